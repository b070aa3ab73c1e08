"""What a Ray launch asks for, whether the cluster can ever give it, and what to say when not.

Ray and Serve wait without end for resources nobody will free: an actor or a replica asking
for more CPUs or GPUs than any node has stays pending forever, and so does ``serve.run``. The
launcher checks each request against the nodes before it submits anything
(:func:`check_fits`), and a start that runs past its deadline while still unplaced is reported
with what was asked and what the cluster has (:func:`shortfall`), as a
:class:`~asyncllm.ResourcesUnavailableError`.

Replica CPUs: Serve reserves 1 CPU per replica unless told otherwise, so on a small machine
``num_replicas=2`` takes every CPU and the next served module waits forever.
:func:`default_replica_cpus` sizes the default to the largest node instead.

Blocking (Ray's API): call from a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .._exceptions import ResourcesUnavailableError
from ._ray_env import import_ray

__all__ = ["ask", "check_fits", "default_replica_cpus", "describe", "shortfall"]

# A served module's replicas take at most this share of the largest node by default, so that
# several served modules fit side by side (they mostly wait on I/O: engines, providers).
_REPLICA_SHARE = 4
_KEYS = {"num_cpus": "CPU", "num_gpus": "GPU"}


def ask(options: Mapping[str, Any]) -> dict[str, float]:
    """Ray's resource names for ``num_cpus``/``num_gpus`` options (zeros and Nones left out)."""
    return {_KEYS[k]: float(v) for k, v in options.items() if k in _KEYS and v}


def _nodes() -> list[dict[str, float]]:
    return [dict(n.get("Resources") or {}) for n in import_ray().nodes() if n.get("Alive")]


def describe(resources: Mapping[str, float]) -> str:
    shown = {k: v for k, v in resources.items() if k in ("CPU", "GPU")}
    return ", ".join(f"{k} {v:g}" for k, v in sorted(shown.items())) or "no CPU or GPU"


def check_fits(request: Mapping[str, float], what: str) -> None:
    """Raise :class:`ResourcesUnavailableError` when no alive node could ever hold ``request``."""
    if not request:
        return
    nodes = _nodes()
    if any(all(node.get(k, 0.0) >= v for k, v in request.items()) for node in nodes):
        return
    largest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default={})
    raise ResourcesUnavailableError(
        f"{what} asks for {describe(request)} per copy, but no node of the Ray cluster has that much "
        f"(largest node: {describe(largest)}; {len(nodes)} node(s)); lower num_cpus/num_gpus or add nodes",
        requested=dict(request), available={k: v for k, v in largest.items() if k in ("CPU", "GPU")})


def shortfall(request: Mapping[str, float], copies: int, what: str, waited: float) -> ResourcesUnavailableError:
    """The error for a start that stayed unplaced for ``waited`` seconds."""
    ray = import_ray()
    total = {k: float(v) for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
    available = ray.available_resources()  # a resource all taken is left out of it
    free = {k: float(available.get(k, 0.0)) for k in total}
    return ResourcesUnavailableError(
        f"{what} could not be placed within {waited:g}s: {copies} x ({describe(request)}) asked for, and the "
        f"Ray cluster has {describe(free)} free of {describe(total)} (other applications, actors or tasks hold "
        "the rest); stop some of them, lower num_cpus/num_gpus or num_replicas, or add nodes",
        requested={k: v * copies for k, v in request.items()}, available=free)


def default_replica_cpus(num_replicas: int) -> float:
    """CPUs per replica when the launcher was given none: Serve's 1, or less so that all the
    replicas of one served module take at most a quarter of the largest node."""
    largest = max((n.get("CPU", 0.0) for n in _nodes()), default=0.0)
    share = largest / (num_replicas * _REPLICA_SHARE)
    # Ray accepts at most 4 decimals for fractional resources; round down, keep it above zero.
    return min(1.0, max(0.01, math.floor(share * 100) / 100))
