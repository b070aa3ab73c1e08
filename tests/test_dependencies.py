"""What ``pip install asyncllm`` (no extras) installs is enough to use the core.

The test environment has every extra installed, so a module the core imports but does not
declare is found anyway, through whichever extra happens to pull it in (``sniffio`` came only
through trio). The child below hides every distribution that the declared dependencies do not
bring, the way a fresh install would lack them, then imports asyncllm and serves, calls and
composes modules over loopback on asyncio and trio. Optional imports (aiohttp, OpenTelemetry,
pydantic) must fall back; a required one that is not declared fails the import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _closure(names: list[str]) -> set[str]:
    """The distributions these requirement strings install, transitively (no extras)."""
    seen: set[str] = set()
    todo = [Requirement(n) for n in names]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        todo.extend(Requirement(r) for r in metadata.requires(req.name) or [])
    return seen


def _allowed_top_levels() -> list[str]:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    dists = _closure(declared)
    return sorted(
        top for top, owners in metadata.packages_distributions().items()
        if any(o.lower().replace("_", "-") in dists for o in owners)
    )


CHILD = r"""
import importlib.abc, json, sys

allowed = set(json.loads(sys.argv[1]))
blocked = []

class HideUndeclared(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in allowed or top in sys.stdlib_module_names or top in ("asyncllm", "_distutils_hack"):
            return None
        blocked.append(top)
        raise ModuleNotFoundError(f"No module named {top!r} (not installed by asyncllm's dependencies)",
                                  name=top)

sys.meta_path.insert(0, HideUndeclared())

import anyio
import asyncllm as al


class Upper(al.ModuleBase):
    async def forward(self, x):
        return x.upper()


async def main():
    pipe = al.pipeline(Upper(), al.parallel(lambda s: s + "!", lambda s: s + "?").join(" "))
    assert await pipe("a") == "A! A?", "pipeline"
    served = al.ServerModule(Upper())
    async with served:
        assert await served("b") == "B", "served"
        assert await al.UrlModule(url=served.url)("c") == "C", "url"
    al.OnlineChatModule(source="openai", api_key="k", base_url="http://127.0.0.1:9/v1")


for backend in ("asyncio", "trio") if "trio" in allowed else ("asyncio",):
    anyio.run(main, backend=backend)
print(json.dumps(sorted(set(blocked))))
"""


def test_core_works_with_only_the_declared_dependencies() -> None:
    allowed = _allowed_top_levels()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(allowed)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    hidden = json.loads(proc.stdout.strip().splitlines()[-1])
    # The hiding really happened (aiohttp, the optional fast pool, is installed here but not
    # declared), so a pass means the core did without it rather than found it.
    assert "aiohttp" in hidden
