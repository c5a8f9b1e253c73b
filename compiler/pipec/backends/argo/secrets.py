"""Credentials (OSMO `credentials:`) from Kubernetes Secrets: a key as an environment variable
(`env[].valueFrom.secretKeyRef`), or every key as a file of a directory (a `secret` volume
mounted there). The values never appear in the manifest: the kubelet reads them from the
Secret when it starts the pod.

The Secret of credential NAME is `[secrets.NAME] argo` in pipec.toml, else NAME made a
Kubernetes object name (a DNS-1123 subdomain): lower-cased, every run of characters other than
letters, digits, '.' and '-' made one '-', and each dot-separated part stripped of the '-' at
its ends (`Model_Hub` -> `model-hub`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hera.workflows import models as m

from pipec import ir

SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SUBDOMAIN_MAX = 253
# Kubernetes: a Secret key (IsConfigMapKey).
KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
VOLUME_PREFIX = "pipec-secret-"


@dataclass(frozen=True)
class Credentials:
    """What a pod's template says of the job's credentials (part of its shape)."""

    env: tuple[tuple[str, str, str], ...] = ()  # (variable, Secret, key)
    mounts: tuple[tuple[str, str], ...] = ()  # (Secret, directory)


def default_name(credential: str) -> str:
    """Credential name -> a Kubernetes Secret name ("" when nothing of it is left)."""
    text = re.sub(r"[^a-z0-9.-]+", "-", credential.lower())
    parts = [p.strip("-") for p in text.split(".")]
    return ".".join(p for p in parts if p)[:SUBDOMAIN_MAX].strip(".-")


def credentials(job: ir.Job, secret_names: dict[str, str]) -> Credentials:
    """The job's credentials (checked: problems) as its pod reads them; `secret_names`:
    credential -> its Kubernetes Secret."""
    env = tuple((variable, secret_names[s.name], key) for s in job.secrets for variable, key in s.env)
    mounts = tuple((secret_names[s.name], s.mount.rstrip("/")) for s in job.secrets if s.mount is not None)
    return Credentials(env, mounts)


def problems(secret: ir.Secret, name: str, reserved: tuple[str, ...]) -> list[str]:
    """Why a credential cannot reach the pod as written (empty: it can); its variables were
    checked for every target by the names pass. `reserved`: directories pipec mounts or writes
    itself."""
    out = []
    if not name or len(name) > SUBDOMAIN_MAX or not SUBDOMAIN.match(name):
        out.append(f"credential '{secret.name}' gives no valid Kubernetes Secret name ({name!r})")
    for _variable, key in secret.env:
        if not KEY.match(key) or len(key) > SUBDOMAIN_MAX:
            out.append(f"key {key!r} of credential '{secret.name}' is not a Kubernetes Secret key (letters, digits, "
                       "'-', '_', '.')")
    mount = secret.mount
    if mount is not None:
        if not mount.startswith("/") or mount.rstrip("/") == "" or "{{" in mount or not mount.isprintable():
            out.append(f"credential '{secret.name}' is mounted at {mount!r}, which is not a directory a Secret "
                       "volume can be mounted at (absolute, not '/', printable, no '{{')")
        else:
            for path in reserved:
                if _within(mount, path) or _within(path, mount):
                    out.append(f"credential '{secret.name}' is mounted at {mount}, where pipec mounts or writes "
                               f"{path} itself")
                    break
    return out


def _within(path: str, directory: str) -> bool:
    path, directory = path.rstrip("/") or "/", directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory + "/")


def env_vars(creds: Credentials) -> list[m.EnvVar]:
    return [m.EnvVar(name=variable, value_from=m.EnvVarSource(secret_key_ref=m.SecretKeySelector(name=secret, key=key)))
            for variable, secret, key in creds.env]


def volumes(creds: Credentials) -> tuple[list[m.Volume], list[m.VolumeMount]]:
    """A `secret` volume per mounted credential (every key a file) and its mount."""
    vols = [m.Volume(name=f"{VOLUME_PREFIX}{n}", secret=m.SecretVolumeSource(secret_name=secret))
            for n, (secret, _) in enumerate(creds.mounts)]
    mounts = [m.VolumeMount(name=f"{VOLUME_PREFIX}{n}", mount_path=directory, read_only=True)
              for n, (_, directory) in enumerate(creds.mounts)]
    return vols, mounts
