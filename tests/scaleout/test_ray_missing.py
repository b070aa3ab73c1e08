"""Without ray installed the helper names the extra to install (runs whether or not ray is there)."""

from __future__ import annotations

import sys

import pytest

from asyncllm._exceptions import MissingDependencyError
from asyncllm.launchers._ray_env import import_ray, start_ray


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'asyncllm\[ray\]'") as info:
        import_ray()
    assert info.value.extra == "ray"
    with pytest.raises(MissingDependencyError):
        start_ray()


@pytest.mark.anyio
async def test_ray_launcher_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from asyncllm import launchers
    from asyncllm.launchers._ray_runtime import Runtime
    from asyncllm.serving import ServerModule

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setattr(Runtime, "handle", None)
    s = ServerModule("scaleout_targets:who", launcher=launchers.ray())
    with pytest.raises(Exception, match=r"pip install 'asyncllm\[ray\]'"):
        await s.start()
    assert s.url == ""
