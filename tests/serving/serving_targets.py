"""Objects the serving tests serve, importable by path (``serving_targets:name``) so the
subprocess launcher can serve them too."""

from __future__ import annotations

import os
import threading
from typing import Any

import anyio

import asyncllm as al
from asyncllm._context import current_session, record_usage
from asyncllm.serving import ServerModule, remote_method, route


def _mark(path: str, text: str) -> None:
    # Written aside and renamed in, so a test that polls for the file never reads it half-written.
    tmp = f"{path}.tmp{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def double(x: Any) -> Any:
    return x * 2


async def add(a: int, b: int, *, scale: int = 1) -> int:
    return (a + b) * scale


def echo_args(*args: Any, **kw: Any) -> dict[str, Any]:
    return {"args": [type(a).__name__ for a in args], "values": list(args), "kw": kw}


def kind_of(x: Any) -> str:
    return type(x).__name__


def boom(x: Any) -> Any:
    raise ValueError(f"boom on {x} in {os.path.abspath(__file__)}")


def not_json(x: Any) -> Any:
    return object()


class Letters(al.ModuleBase):
    """Streams one letter per chunk; between chunks waits ``gap`` seconds."""

    async def forward(self, x: str, gap: float = 0.0):  # type: ignore[no-untyped-def]
        for ch in x:
            yield ch
            if gap:
                await anyio.sleep(gap)


letters = Letters(name="letters")
upper_pipeline = al.pipeline(Letters(name="inner"), lambda s: s.upper())


class Gated(al.ModuleBase):
    """Streams 'first', then waits until the file ``gate`` exists, then streams 'second'.

    The client creates the gate only after it has received 'first', which proves chunks
    arrive while the server is still working.
    """

    async def forward(self, gate: str):  # type: ignore[no-untyped-def]
        yield "first"
        with anyio.fail_after(20):
            while not await anyio.Path(gate).exists():
                await anyio.sleep(0.01)
        yield "second"


gated = Gated(name="gated")


class Endless(al.ModuleBase):
    """Streams forever; writes ``marker`` when its generator is closed or cancelled."""

    async def forward(self, marker: str):  # type: ignore[no-untyped-def]
        try:
            while True:
                yield "tick"
                await anyio.sleep(0.01)
        finally:
            _mark(marker, "closed")  # sync: it must run even while being cancelled


endless = Endless(name="endless")


async def slow(x: Any, delay: float = 0.5, marker: str | None = None) -> Any:
    try:
        await anyio.sleep(delay)
        return x
    finally:
        if marker:
            _mark(marker, "done")


class UsageModule(al.ModuleBase):
    async def forward(self, x: str) -> str:
        record_usage(self.id, {"prompt_tokens": len(x), "completion_tokens": 2})
        return x


usage_module = UsageModule(name="usage")


class SessionReader(al.ModuleBase):
    """Returns what the session gave it: keyword args, history, files."""

    async def forward(self, x: Any, **kw: Any) -> dict[str, Any]:
        await anyio.sleep(0.01)  # let concurrent requests interleave
        out = {"x": x, "kw": kw, "sid": current_session().id}
        if files := kw.get("lazyllm_files"):
            out["contents"] = [await anyio.Path(f).read_text() for f in files]
        return out


session_reader = SessionReader(id="session-reader-id", name="reader")


class Chat(al.ModuleBase):
    """Answers with the query and how many history messages it saw; streams word by word."""

    async def forward(self, query: str, llm_chat_history: list[Any] | None = None):  # type: ignore[no-untyped-def]
        words = f"echo {query} after {len(llm_chat_history or [])} messages".split(" ")
        for i, w in enumerate(words):
            yield w if i == 0 else " " + w


chat_pipeline = al.pipeline(Chat(name="chat"), lambda s: s + "!")


class Counter:
    """A served object with remote methods and custom routes."""

    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def __call__(self, x: int) -> int:
        return x + self.n

    @remote_method
    def bump(self, by: int = 1) -> int:
        with self._lock:
            self.n += by
            return self.n

    @remote_method
    async def mul(self, a: int, b: int) -> int:
        return a * b

    def secret(self) -> str:
        return "should not be reachable"

    @route("/count", methods=["GET"])
    def count(self) -> dict[str, int]:
        return {"n": self.n}

    @route("/reset", methods=["POST"])
    async def reset(self, to: int = 0) -> dict[str, int]:
        self.n = to
        return {"n": self.n}

    @route("/hidden", methods=["GET"])
    def hidden(self) -> str:
        return "base"


class SubCounter(Counter):
    def hidden(self) -> str:  # overridden without @route: not mounted
        return "sub"


counter = Counter()
guarded_counter = Counter()  # served by the safety tests, never bumped
sub_counter = SubCounter()

# Served in a subprocess, this pipeline starts its own inner (in-process) ServerModule there.
nested_pipeline = al.pipeline(lambda x: x + 1, ServerModule(double, name="inner-double"))


def pre_split(text: str) -> al.package:
    a, b = text.split("+")
    return al.package(int(a), int(b))


def pre_named(a: int, b: int) -> al.package:
    return al.package(a, b)


def post_with_origin(out: Any, origin: Any) -> str:
    return f"{origin} -> {out}"


def post_kwonly(out: Any, *, origin: Any) -> str:
    return f"{out} from {origin}"


class Spawner:
    """Starts a long-running grandchild in the server's process group (like an engine)."""

    def __call__(self, x: Any) -> Any:
        return x

    @remote_method
    def spawn(self) -> int:
        import subprocess
        import sys

        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        return proc.pid


spawner = Spawner()
