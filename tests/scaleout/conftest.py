"""Scale-out tests (Ray, Slurm). Markers are registered here until pyproject lists them."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ray: needs the 'ray' extra; starts a local Ray instance on 127.0.0.1")
    config.addinivalue_line("markers", "slurm: needs a running Slurm cluster (scripts/slurm_setup.sh)")
