"""Deployments: a deployment job runs the site's deploy command (pipec.toml [deploy] command,
in [deploy] image when one is set) with the deployment's facts in PIPEC_DEPLOY* variables
and its files staged as inputs. A target that applies Kubernetes manifests itself (Argo)
keeps the job without a command, for [deploy] manifest, or, with neither set, to run the
deployment's endpoints itself (its back end reads `Deployment.servers`); that needs every
endpoint the node names defined as a server, and a file from upstream for each of their
files. Other targets refuse a deployment without a deploy command. `check` (no target)
warns only about what keeps the default deployment from working."""

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
                _default_problems(wf, job, ctx, compiling=False)
            jobs.append(job)
            continue
        if manifest and manifests:
            jobs.append(job)
            continue
        if not command and manifests:  # the target deploys the endpoints itself
            _default_problems(wf, job, ctx, compiling=True)
            jobs.append(job)
            continue
        if not command:
            ctx.diags.error(f"deployment node '{job.name}' needs a deploy command on {ctx.target.title}",
                            ctx.where(wf, job), _HINT)
            jobs.append(job)
            continue
        jobs.append(deploy_job(job, str(command), str(image) if image else None))
    return replace(wf, jobs=tuple(jobs))


_HINT = ('add to pipec.toml: [deploy] command = "<your deploy command>"; it runs with the deployment\'s '
         "files staged in its input directory ($PIPEC_INPUTS_DIR/<file name>)")


def _default_problems(wf: ir.Workflow, job: ir.Job, ctx: Context, compiling: bool) -> None:
    """What keeps a target that runs endpoints itself from deploying `job` without a deploy
    command: errors when compiling for one, warnings for `check` (the target is not known)."""
    assert job.deployment is not None
    d = job.deployment
    where = ctx.where(wf, job)
    if not d.endpoints:
        ctx.diags.warning(f"deployment node '{job.name}' names no endpoints: without a deploy command it deploys "
                          "nothing", where, "list the endpoints it deploys, or " + _HINT, code="PC411")
        return
    servers = {s.name: s for s in d.servers}
    for name in dict.fromkeys(d.endpoints):
        if name in servers:
            continue
        message = f"deployment node '{job.name}' deploys endpoint '{name}', which the file does not define"
        if compiling:
            ctx.diags.error(message, where, "define the endpoint (its image and server command), or " + _HINT)
        else:
            ctx.diags.warning(message + ", so only a deploy command can deploy it", where, _HINT, code="PC411")
    if not compiling:
        return
    fed = {dep.target_key for dep in wf.incoming(job.id) if dep.kind is ir.DepKind.DEPLOY_FILE}
    for name in dict.fromkeys(d.endpoints):
        server = servers.get(name)
        for file, _ in server.files if server is not None else ():
            if f"{name}.{file}" not in fed:
                ctx.diags.error(f"file '{file}' of endpoint '{name}' receives nothing: no upstream output of "
                                f"deployment node '{job.name}' goes to it", ctx.where(wf, server),
                                f"give it one file from an upstream job's outputs ({job.name}.file.{name}.{file})")


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
