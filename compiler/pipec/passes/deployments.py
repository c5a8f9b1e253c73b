"""Deployments: a deployment job runs the site's deploy command (pipec.toml [deploy] command,
in [deploy] image when one is set) with the deployment's facts in PIPEC_DEPLOY* variables
and its files staged as inputs; a target that applies Kubernetes manifests itself (Argo)
keeps the job without a command for [deploy] manifest. Without either, `check` warns and
`compile` refuses."""

from __future__ import annotations

from dataclasses import replace

from pipec import ir
from pipec.passes.context import Context
from pipec.targets import DEPLOY_MANIFESTS


def lower_deployments(wf: ir.Workflow, ctx: Context) -> ir.Workflow:
    if not any(j.kind is ir.JobKind.DEPLOYMENT for j in wf.jobs):
        return wf
    deploy = dict(ctx.config.data.get("deploy", {}))
    command, manifest, image = deploy.get("command"), deploy.get("manifest"), deploy.get("image")
    manifests = ctx.target is not None and DEPLOY_MANIFESTS in ctx.target.supports
    jobs = []
    for job in wf.jobs:
        if job.kind is not ir.JobKind.DEPLOYMENT or job.deployment is None:
            jobs.append(job)
            continue
        if ctx.target is None:  # check: say what compiling will need
            if not command and not manifest:
                ctx.diags.warning(f"deployment node '{job.name}' needs a deploy command to be compiled",
                                  ctx.where(wf, job), _HINT)
            jobs.append(job)
            continue
        if manifest and manifests:
            jobs.append(job)
            continue
        if not command:
            also = '; or [deploy] manifest = "<a Kubernetes manifest to apply>"' if manifests else ""
            ctx.diags.error(f"deployment node '{job.name}' needs a deploy command on {ctx.target.title}",
                            ctx.where(wf, job), _HINT + also)
            jobs.append(job)
            continue
        jobs.append(deploy_job(job, str(command), str(image) if image else None))
    return replace(wf, jobs=tuple(jobs))


_HINT = ('add to pipec.toml: [deploy] command = "<your deploy command>"; it runs with the deployment\'s '
         "files staged in its input directory ($PIPEC_INPUTS_DIR/<file name>)")


def deploy_job(job: ir.Job, command: str, image: str | None) -> ir.Job:
    """A deployment as a job that runs `command`."""
    assert job.deployment is not None
    d = job.deployment
    env = (
        ir.EnvVar("PIPEC_DEPLOYMENT", d.name),
        ir.EnvVar("PIPEC_ENDPOINTS", " ".join(d.endpoints)),
        ir.EnvVar("PIPEC_DEPLOY_FILES", " ".join(f"{name}={path}" for name, path in d.files)),
        ir.EnvVar("PIPEC_DEPLOY_ALIASES", " ".join(d.aliases)),
    )
    inputs = tuple(ir.Input(name=name) for name, _ in d.files)
    # Still a deployment (GitHub Actions names its environment), now with a command to run.
    return replace(job, command=ir.Command.shell(command), image=image or job.image, env=job.env + env,
                   inputs=job.inputs + inputs)
