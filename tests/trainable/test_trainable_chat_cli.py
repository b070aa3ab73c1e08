"""``asyncllm chat`` end to end, as a user runs it (a subprocess), on the dummy engine."""

from __future__ import annotations

import re
import subprocess
import sys

P = "{'do_sample': False, 'temperature': 0.1}"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncllm._cli", "chat", "--engine", "dummy", *args],
                          input=stdin, capture_output=True, text=True, timeout=90, check=False)


def test_one_prompt_from_argv_streams_the_answer() -> None:
    out = run("hello", "there")
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"reply for hello there, and parameters is {P}\n"


def test_prompt_from_piped_stdin() -> None:
    out = run(stdin="piped question\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("reply for piped question,")


def test_bad_engine_and_empty_input_are_explained() -> None:
    out = subprocess.run([sys.executable, "-m", "asyncllm._cli", "chat", "--engine", "nope", "x"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2 and "unknown engine 'nope'" in out.stderr
    out = run(stdin="")
    assert out.returncode == 2 and "give a prompt" in out.stderr


def test_stats_are_tokens_per_second_from_the_engine_count() -> None:
    out = run("--stats", "one two")
    assert out.returncode == 0, out.stderr
    # The dummy engine counts the reply's words as its completion tokens (its usage block).
    words = len(out.stdout.split())
    stats = out.stderr.strip()
    assert re.fullmatch(rf"\[{words} tokens, first after \d+\.\d\d s, \d+\.\d tokens/s\]", stats), stats
