"""Objects the scale-out tests serve or search, importable by path (``scaleout_targets:name``)
so Ray replicas, Ray tasks and Slurm jobs import them instead of receiving pickles."""

from __future__ import annotations

import os
from typing import Any

import anyio

import asyncllm as al


class Words(al.ModuleBase):
    """Streams the words of its input, tagging each with the replica's pid via the result."""

    async def forward(self, text: str, gap: float = 0.0):  # type: ignore[no-untyped-def]
        for i, w in enumerate(text.split()):
            if gap:
                await anyio.sleep(gap)
            yield w if i == 0 else " " + w


def who(x: Any) -> dict[str, Any]:
    return {"x": x, "pid": os.getpid(), "proxy": os.environ.get("http_proxy", "")}


async def nap(x: Any, delay: float = 0.0) -> Any:
    await anyio.sleep(delay)
    return x


# A served pipeline: a streaming module, then an upper-casing step.
words_pipeline = al.pipeline(Words(name="words"), lambda s: s.upper())
who_pipeline = al.pipeline(lambda x: x + 1, who)


async def sleepy(x: Any) -> Any:
    """The benchmark's served module: 20 ms of waiting (an I/O-bound step) per call."""
    await anyio.sleep(0.02)
    return x


class Scored(al.ModuleBase):
    """A trial target: deploy fails for one combination, eval reports the chosen values."""

    def __init__(self, lr: al.Option | float, size: al.Option | int) -> None:
        super().__init__()
        self.lr = lr
        self.size = size

    def _get_deploy_tasks(self) -> Any:
        async def deploy() -> None:
            if self.lr == 0.3 and self.size == 2:
                raise RuntimeError("this combination does not fit")

        return deploy

    async def forward(self, x: int) -> Any:
        return [self.lr, self.size, x, os.getpid()]


scored = Scored(al.Option([0.1, 0.3]), al.Option([1, 2])).evalset([5])


class GatedWords(al.ModuleBase):
    """Streams 'first', waits until the file ``gate`` exists, then streams ' second': the client
    creates the gate only after receiving 'first', proving chunks arrive while work goes on.
    ``<gate>.closed`` is written when the generator ends or is cancelled."""

    async def forward(self, gate: str):  # type: ignore[no-untyped-def]
        try:
            yield "first"
            with anyio.fail_after(30):
                while not await anyio.Path(gate).exists():
                    await anyio.sleep(0.01)
            yield " second"
        finally:
            with open(gate + ".closed", "w") as f:  # noqa: ASYNC230  (sync: it must run while cancelled)
                f.write("closed")


gated_pipeline = al.pipeline(GatedWords(name="gated"), lambda s: s.upper())


def echo_kw(x: Any, **kw: Any) -> dict[str, Any]:
    """Returns what it was given: the served form's caller policy decides what may reach it."""
    return {"x": x, "kw": kw}


async def record_call(i: int, directory: str, delay: float = 0.0) -> int:
    """Appends this replica's pid to ``directory/<i>`` (one line per run of call ``i``), waits
    ``delay`` seconds, returns ``i``: a call that ran twice leaves two lines."""
    with open(os.path.join(directory, str(i)), "a") as f:  # noqa: ASYNC230  (one short line)
        f.write(f"{os.getpid()}\n")
    await anyio.sleep(delay)
    return i


# Present while a test wants replicas that start slowly (a replica being replaced stays
# unplaced-or-starting long enough to be seen).
SLOW_START_MARKER = os.path.join("/tmp", f"asyncllm-slow-start-{os.getuid()}")


class SlowRestart(al.ModuleBase):
    """Starts in no time, unless SLOW_START_MARKER exists: then its deploy task takes 8 s."""

    def _get_deploy_tasks(self) -> Any:
        async def deploy() -> None:
            if await anyio.Path(SLOW_START_MARKER).exists():
                await anyio.sleep(8)

        return deploy

    async def forward(self, x: Any) -> Any:
        return x


slow_restart = SlowRestart()

# One line per run of a crashy trial (its worker process dies in deploy).
CRASH_RUNS = os.path.join("/tmp", f"asyncllm-crashy-runs-{os.getuid()}")


class Crashy(al.ModuleBase):
    """A trial target whose worker dies mid-deploy (as an out-of-memory kill would): each run
    leaves a line in CRASH_RUNS first."""

    def _get_deploy_tasks(self) -> Any:
        async def deploy() -> None:
            with open(CRASH_RUNS, "a") as f:  # noqa: ASYNC230  (a line, then the process dies)
                f.write(f"{os.getpid()}\n")
            os._exit(3)

        return deploy

    async def forward(self, x: int) -> Any:
        return x


crashy = Crashy().evalset([5])  # no Option: a grid of one trial
