"""Scale-out tests (Ray, Slurm). Markers are registered here until pyproject lists them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ray: needs the 'ray' extra; starts a local Ray instance on 127.0.0.1")
    config.addinivalue_line("markers", "slurm: needs a running Slurm cluster (scripts/slurm_setup.sh)")


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    """ONE local loopback Ray instance for the whole session (a start costs 8-14 s and ~1 GB);
    at the end it is stopped and no Ray process may be left."""
    pytest.importorskip("ray", reason="ray not installed (pip install 'asyncllm[ray]')")
    from net_check import ray_pids

    from asyncllm.launchers._ray_env import start_ray

    before = ray_pids()
    t0 = time.monotonic()
    handle = start_ray(num_cpus=2, object_store_memory=100 * 1024**2)
    print(f"ray start: {time.monotonic() - t0:.1f}s")
    try:
        yield handle
    finally:
        handle.stop()
        deadline = time.monotonic() + 30
        while (ray_pids() - before) and time.monotonic() < deadline:
            time.sleep(0.2)
    left = ray_pids() - before
    assert not left, f"Ray processes left behind: {sorted(left)}"
