"""Ordinary mistakes at the ``asyncllm`` command line: each gets one line on stderr that says what
to change, and a non-zero exit; ``--debug`` shows the traceback instead. Run as a user runs them
(a subprocess), so nothing but the command line's own output is judged."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def asyncllm(*args: str, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncllm._cli", *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})})


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "mymod.py").write_text("def echo(x):\n    return x\n")
    return tmp_path


MISTAKES: list[tuple[str, list[str], int, str]] = [
    # (what, arguments, exit code, what the line must say: the fix)
    ("bad import path", ["serve", "nosuch_pkg.mod:x"], 2, r"no module named 'nosuch_pkg'.*PYTHONPATH"),
    ("missing :name", ["serve", "mymod"], 2, r"'mymod' is not an import path: write it as 'package\.module:name'"),
    ("empty :name", ["serve", "mymod:"], 2, r"write it as 'package\.module:name'"),
    ("wrong name", ["serve", "mymod:ecko"], 2,
     r"module 'mymod' has no attribute 'ecko'.*check the name after the colon"),
    ("bad --host", ["serve", "mymod:echo", "--host", "999.1.1.1"], 2,
     r"--host '999\.1\.1\.1' is not an address.*127\.0\.0\.1"),
    ("--key env:NOPE", ["serve", "mymod:echo", "--key", "env:ASYNCLLM_TEST_NOPE"], 2,
     r"ASYNCLLM_TEST_NOPE is not set; export it"),
    ("--key file:missing", ["serve", "mymod:echo", "--key", "file:/nonexistent/key"], 2,
     r"cannot read '/nonexistent/key'.*readable file"),
    ("bad --port", ["serve", "mymod:echo", "--port", "70000"], 2, r"port=70000.*0\.\.65535"),
    ("demo --delay -1", ["demo", "--delay", "-1"], 2, r"--delay: -1 is not a number of seconds >= 0"),
    ("demo --delay x", ["demo", "--delay", "x"], 2, r"--delay: 'x' is not a number of seconds"),
    ("unknown option", ["demo", "--nope"], 2, r"unrecognized arguments: --nope \(see asyncllm --help\)"),
    ("mistyped model", ["chat", "--model", "SmolLM2-135M-Instrct", "Hi"], 2,
     r"model 'SmolLM2-135M-Instrct' is not a known name.*Did you mean 'SmolLM2-135M-Instruct'\?"),
    ("missing .gguf", ["chat", "--model", "missing/nope.gguf", "Hi"], 2,
     r"model file 'missing/nope\.gguf' does not exist: check the path"),
]


@pytest.mark.parametrize(("what", "args", "code", "fix"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_one_line_naming_the_fix(app_dir: Path, what: str, args: list[str], code: int, fix: str) -> None:
    out = asyncllm(*args, cwd=app_dir)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == code, out.stderr
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("asyncllm"), lines
    assert "Traceback" not in out.stderr
    assert re.search(fix, lines[0]), lines[0]


def test_a_port_in_use_is_one_line(app_dir: Path, busy_port: int) -> None:
    out = asyncllm("serve", "mymod:echo", "--port", str(busy_port), cwd=app_dir)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"asyncllm serve: error: port {busy_port} on 127.0.0.1 is in use; choose another "
                                  "--port, or --port 0 for any free one")


def test_debug_shows_the_traceback(app_dir: Path) -> None:
    out = asyncllm("--debug", "serve", "nosuch_pkg.mod:x", cwd=app_dir)
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "ModuleNotFoundError" in out.stderr and "ConfigError" in out.stderr
    out = asyncllm("serve", "--debug", "mymod", cwd=app_dir)
    assert "Traceback" in out.stderr


def test_an_error_inside_the_served_module_names_its_import(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import nosuch_dependency_xyz\nx = 1\n")
    out = asyncllm("serve", "broken:x", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == ("asyncllm serve: error: importing 'broken' failed: No module named "
                                  "'nosuch_dependency_xyz'; install what it needs")
