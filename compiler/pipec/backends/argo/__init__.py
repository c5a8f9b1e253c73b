"""Argo Workflows back end: one Workflow (or WorkflowTemplate, or CronWorkflow) per pipeline.

    main                DAG template: one task per job, `depends` expressions
    step-<name>         container template per distinct job shape (image, resources, ...)
    sweep-<job>         DAG wrapper that limits a sweep's parallelism
    group-<job>         DAG wrapper of a group: members as daemons, then the lead
    deploy-<job>        resource template applying [deploy] manifest

Each pod runs one execution under the runtime contract (pipec-runtime.sh, shipped once in the
workflow annotation `pipec-runtime` and read through `{{workflow.annotations.pipec-runtime}}`):
the execution directory is a volume at the layout's root, uploaded afterwards as key-only artifacts
under `{{workflow.name}}/<job>/<execution>/`; a downstream job downloads the whole
`{{workflow.name}}/<upstream>/` prefix (Argo neither globs nor aggregates loop artifacts) and
the runtime stages what the edge's glob selects.

Everything the author wrote reaches the pod through environment variables filled from
template parameters; a value holding "{{" (Argo's template language) travels base64-encoded
and the pod decodes it, so user text is never read as an Argo expression or as shell code.

The package holds one small module per concept: names (text and names Argo accepts),
resources, artifacts, templates (container templates per job shape), tasks (DAG tasks and
the stop hook), manifest (the document and its header) and compiler (jobs to tasks).
"""

from pipec.backends.argo.compiler import TARGET, compile_workflows

__all__ = ["TARGET", "compile_workflows"]
