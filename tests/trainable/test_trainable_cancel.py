"""Cancelling a call stops the local engine's work: the llama.cpp process goes idle, whether the
call was a plain ``await``, a structured-output call (``output_type=``) or a stream (measured as
the engine process's CPU time, from /proc).

A plain ``await`` streams from the engine (the one rule in asyncllm/streaming/channel.py), so a
cancel hangs up on a stream, which llama.cpp notices at its next token; a non-streamed request
would keep it generating until ``max_tokens``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from pydantic import BaseModel, Field
from trainable_helpers import llamacpp_server

from asyncllm import deploy
from asyncllm.trainable import TrainableModule

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("pools"), pytest.mark.anyio]

STORY = "Write a very long story about a lighthouse keeper and the sea, with many chapters."
TICKS = os.sysconf("SC_CLK_TCK")
#: "idle": under this share of the CPU the engine had while generating
IDLE = 0.15
#: seconds the engine may take to notice the hang-up
IDLE_WITHIN = 10


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A llama.cpp server per test (its pid is what we measure; a shared one would still be
    working on the previous test's request when that test failed)."""
    with llamacpp_server(tmp_path / "engine.log") as running:
        yield running


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def cores_busy(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    await anyio.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def attached(url: str) -> TrainableModule:
    return TrainableModule("SmolLM2-135M-Instruct").deploy_method(deploy.llamacpp, url=url,
                                                                   served_name="SmolLM2-135M-Instruct")


async def _busy_then_cancelled(pid: int, call: object) -> tuple[float, list[float]]:
    """Run ``call`` for 1.5 s, measuring the engine's CPU in its last second; cancel it; then the
    engine's CPU in one-second windows until one is idle (at most ``IDLE_WITHIN``)."""
    busy = 0.0

    async def measure(scope: anyio.CancelScope) -> None:
        nonlocal busy
        await anyio.sleep(0.5)
        busy = await cores_busy(pid, 1.0)
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(measure, tg.cancel_scope)
        await call()  # type: ignore[operator]
        raise AssertionError("the call finished before it was cancelled: ask for more tokens")
    after: list[float] = []
    while len(after) < IDLE_WITHIN and not (after and after[-1] < IDLE * busy):
        after.append(round(await cores_busy(pid, 1.0), 2))
    return busy, after


def check(busy: float, after: list[float]) -> None:
    # Relative to what the engine got while generating: a loaded machine (other jobs on the same
    # cores) gives it less than a core, an idle one about two; idle it uses next to nothing. The
    # engine notices a hang-up at its next token, which on a loaded machine takes a few seconds;
    # a non-streamed request keeps it busy until max_tokens.
    assert busy > 0.1, f"the engine was not generating during the call ({busy:.2f} cores): nothing measured"
    assert after[-1] < IDLE * busy, (f"the engine kept generating for {IDLE_WITHIN} s after the cancel "
                                     f"(cores busy each second: {after}; {busy:.2f} while the call ran)")


async def test_cancelling_a_plain_await_stops_the_engine(engine: tuple[str, int]) -> None:
    url, pid = engine
    m = attached(url)
    busy, after = await _busy_then_cancelled(pid, lambda: m(STORY, max_tokens=2000, temperature=0.8))
    check(busy, after)


class Chapters(BaseModel):
    # minItems in the schema, so llama.cpp's grammar keeps the model writing past the cancel
    chapters: list[str] = Field(min_length=100)


async def test_cancelling_a_structured_output_call_stops_the_engine(engine: tuple[str, int]) -> None:
    url, pid = engine
    m = attached(url)
    busy, after = await _busy_then_cancelled(
        pid, lambda: m(STORY, output_type=Chapters, max_tokens=2000, temperature=0.8))
    check(busy, after)


async def test_cancelling_a_stream_stops_the_engine(engine: tuple[str, int]) -> None:
    url, pid = engine
    m = attached(url)

    async def read() -> None:
        async with m.stream(STORY, max_tokens=2000, temperature=0.8) as s:
            async for _ in s:
                pass

    busy, after = await _busy_then_cancelled(pid, read)
    check(busy, after)
