"""pipec: compile ML pipeline YAML into Argo Workflows, GitHub Actions and Slurm manifests."""

__version__ = "0.1.0"
