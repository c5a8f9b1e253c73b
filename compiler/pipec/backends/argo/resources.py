"""A job's resources as a pod asks for them: requests and limits (CPU, memory, ephemeral
storage, GPUs and other devices), node selector and tolerations from its machine profile."""

from __future__ import annotations

import math
from typing import Any

from pipec import ir


def resources(job: ir.Job, profile: dict[str, Any]) -> tuple[dict[str, str], dict[str, str], dict[str, str], list[Any]]:
    res = job.resources
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    cpu, memory = res.cpu, res.memory_mb  # profiles were resolved by a pass
    if cpu:
        requests["cpu"] = _cpu(float(cpu))
    if res.cpu_limit:
        limits["cpu"] = _cpu(float(res.cpu_limit))
    if memory:
        requests["memory"] = f"{int(math.ceil(float(memory)))}Mi"
    if res.memory_limit_mb:
        limits["memory"] = f"{int(math.ceil(float(res.memory_limit_mb)))}Mi"
    if res.storage_mb:
        requests["ephemeral-storage"] = f"{int(res.storage_mb)}Mi"
    # Devices name their own resources (nvidia.com/gpu, amd.com/gpu, ...); a GPU count
    # without them is counted in the profile's GPU resource.
    gpus = 0 if res.devices else res.gpus
    if gpus:
        limits[str(profile.get("gpu_resource", "nvidia.com/gpu"))] = str(gpus)
    for device, count in res.devices:
        limits[device] = str(int(count)) if float(count).is_integer() else str(count)
    node_selector = {str(k): str(v) for k, v in dict(profile.get("node_selector", {})).items()}
    gpu_type = res.gpu_type
    if gpu_type and not node_selector:
        node_selector["nvidia.com/gpu.product"] = str(gpu_type)  # GPU feature discovery's label
    tolerations = [_toleration(t) for t in profile.get("tolerations", [])]
    return requests, limits, node_selector, tolerations


def _cpu(cores: float) -> str:
    millis = int(math.ceil(cores * 1000))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _toleration(t: dict[str, Any]) -> dict[str, Any]:
    names = {"key": "key", "operator": "operator", "value": "value", "effect": "effect",
             "toleration_seconds": "tolerationSeconds"}
    return {names[k]: v for k, v in t.items() if k in names}
