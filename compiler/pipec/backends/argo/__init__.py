"""Argo Workflows back end: one Workflow (or WorkflowTemplate, or CronWorkflow) per pipeline.

    main                DAG template: one task per job, `depends` expressions
    step-<name>         container template per distinct job shape (image, resources, ...)
                        and command, which its container's args show (commands.py)
    sweep-<job>         DAG wrapper that limits a sweep's parallelism
    group-<job>         DAG wrapper of a group of one job's executions: members as daemons,
                        then the lead (host names: the members' pod IPs)
    group-<group>       DAG of a group of several jobs: its headless Service, then every
                        member at once, non-leads as daemons (host names: DNS; groups.py)
    pipec-group-service resource template creating a group's Service
    deploy-<job>        resource template applying [deploy] manifest, or without one a DAG
                        deploying the endpoints: claims, stage pod, objects (deploy.py)

Each pod runs one execution under the runtime contract (pipec-runtime.sh, shipped once in the
workflow annotation `pipec-runtime` and read through `{{workflow.annotations.pipec-runtime}}`):
the execution directory is a volume at the layout's root, uploaded afterwards as key-only artifacts
under `{{workflow.name}}/<job>/<execution>/`; a downstream job downloads the whole
`{{workflow.name}}/<upstream>/` prefix (Argo neither globs nor aggregates loop artifacts) and
the runtime stages what the edge's glob selects.

The command stands in its template, reading each value from a variable PIPEC_P_<name>;
everything else the author wrote, values included, reaches the pod through environment
variables filled from template parameters. Text holding "{{" (Argo's template language)
travels base64-encoded and the pod decodes it, and each `$` the kubelet would read (`$$`,
`$(NAME)`) is doubled (names.pod_text), so user text is never read as an Argo expression, a
Kubernetes reference or shell code.
That includes what an OSMO task carries besides its command: its files, its environment, its
exit actions and its uploads. OSMO mounts each file from a Secret of its own (subPath); here
the runtime writes it before the command, at its absolute path in the job's own container,
which is the same for the program: the same bytes at the same path before it starts (the
file is writable, and the container's user must be able to create it there). Contents that
several jobs write (common.py shared_files) are shipped once, like the runtime: in workflow
annotation `pipec-file-<k>`, which the container templates of those jobs read into
PIPEC_SHARED_FILE_<k> (base64-encoded when they hold "{{", as annotations reach the pod
through Argo's templating too); each job's setup writes its file from there. Only pipec's
own tags reach Argo: the run's id (PIPEC_RUN_ID, for jobs that read it) is
`{{workflow.name}}`. Credentials are never text of the manifest: a key is an env
`secretKeyRef`, a credential mounted as a directory a `secret` volume (secrets.py); statuses
that reschedule a job are a `retryStrategy` expression (retries.py).

The package holds one small module per concept: names (text and names Argo accepts),
resources, artifacts, templates (container templates per job shape), commands (how each
execution's command and values reach its pod), tasks (DAG tasks and
the stop hook), groups (groups of several jobs), secrets (credentials from Kubernetes
Secrets), retries (retry strategies), settings (the operator's [argo] settings: security
contexts, image pull secrets, default resources, the Argo version), manifest (the document and
its header) and compiler (jobs to tasks).
"""

from pipec.backends.argo.compiler import TARGET, compile_workflows

__all__ = ["TARGET", "compile_workflows"]
