"""The ``asyncllm`` command line: the demo and the subcommand table."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from asyncllm import _cli


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_streams_branches_and_prints_the_result(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["--backend", backend, "demo", "one two three", "--delay", "0.01"]) == 0
    out = capsys.readouterr().out
    streamed = [line.strip() for line in out.splitlines() if line.strip().startswith("[")]
    assert sorted(streamed) == sorted(["[ shout] ONE", "[ shout] TWO", "[ shout] THREE",
                                       "[mirror] three", "[mirror] two", "[mirror] one"])
    assert "shout: ONE TWO THREE" in out
    assert "mirror: three two one" in out
    assert "stats: {'words': 3, 'characters': 13}" in out


def test_console_script_runs_the_demo_in_a_subprocess() -> None:
    proc = subprocess.run([sys.executable, "-m", "asyncllm._cli", "demo", "--delay", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "both streaming branches ran at once" in proc.stdout


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_registering_a_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cli, "SUBCOMMANDS", dict(_cli.SUBCOMMANDS))
    seen: list[str] = []

    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=0)

    @_cli.subcommand("echo-port", help="test", arguments=arguments)
    def echo(args: argparse.Namespace) -> int:
        seen.append(f"port={args.port}")
        return 3

    assert _cli.main(["echo-port", "--port", "8"]) == 3
    assert seen == ["port=8"]
    with pytest.raises(ValueError, match="already registered"):
        _cli.subcommand("echo-port", help="again")(echo)
