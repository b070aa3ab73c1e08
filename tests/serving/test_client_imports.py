"""A process that only calls served modules loads no server: ``UrlModule`` needs the HTTP layer
and the wire format, never starlette or hypercorn (issue 12's layering rule)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest
import serving_targets as t

from asyncllm.serving import ServerModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

_CLIENT = """
import sys, anyio, asyncllm as al
async def main():
    print(await al.UrlModule(url=sys.argv[1])(21))
    await al.aclose()
anyio.run(main)
print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'hypercorn')
             or m in ('asyncllm.serving.app', 'asyncllm.serving.launchers', 'asyncllm.serving.server_module')))
"""


async def test_a_client_process_calls_a_served_module_without_loading_a_server() -> None:
    async with ServerModule(t.double) as served:
        proc = await anyio.run_process([sys.executable, "-c", _CLIENT, served.url], check=False,
                                       cwd=Path(__file__).parent)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert proc.stdout.decode().split("\n")[:2] == ["42", "[]"]


def test_the_seed_style_import_still_gives_both() -> None:
    out = subprocess.run([sys.executable, "-c", "import asyncllm as al; print(al.ServerModule.__mro__[1].__name__)"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "UrlModule"
