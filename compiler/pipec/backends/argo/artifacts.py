"""Artifacts: key-only locations in the workflow's artifact repository, and URL inputs that
Argo downloads itself (http(s), gs://, and s3:// with an [argo] s3_endpoint)."""

from __future__ import annotations

from typing import Any

from hera.workflows import models as m

from pipec.backends.common import url_scheme

KEY_ARTIFACTS = {"s3": m.S3Artifact, "gcs": m.GCSArtifact, "oss": m.OSSArtifact}


def key_artifact(storage: str, key: str) -> dict[str, Any]:
    """An artifact at `key` of the workflow's repository (its kind: s3, gcs or oss)."""
    return {storage: KEY_ARTIFACTS[storage](key=key)}


def native_kind(url: str, argo: dict[str, Any]) -> str | None:
    if "{{" in url or any(c in url for c in "*?[") or not url.isprintable():
        return None  # wildcards need the fetch command; braces would reach Argo's templating
    scheme = url_scheme(url)
    if scheme in ("http", "https"):
        return "http"
    if scheme == "gs" and "/" in url[len("gs://"):]:
        return "gcs"
    if scheme == "s3" and argo.get("s3_endpoint") and "/" in url[len("s3://"):]:
        return "s3"
    return None


def url_artifact(kind: str, i: int, argo: dict[str, Any]) -> dict[str, Any]:
    if kind == "http":
        return {"http": m.HTTPArtifact(url=f"{{{{inputs.parameters.url-{i}}}}}")}
    bucket, key = f"{{{{inputs.parameters.url-{i}-bucket}}}}", f"{{{{inputs.parameters.url-{i}-key}}}}"
    if kind == "gcs":
        return {"gcs": m.GCSArtifact(bucket=bucket, key=key)}
    secret = argo.get("s3_credentials_secret")
    return {"s3": m.S3Artifact(
        endpoint=str(argo["s3_endpoint"]), bucket=bucket, key=key,
        access_key_secret=m.SecretKeySelector(name=str(secret), key="accessKey") if secret else None,
        secret_key_secret=m.SecretKeySelector(name=str(secret), key="secretKey") if secret else None)}
