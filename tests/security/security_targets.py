"""What the security tests serve, importable by path (``security_targets:name``) so that the
subprocess launcher serves the very same objects.

The online chat module is built on first use from ``SEC_FAKE_URL`` (the fake provider the
server legitimately talks to), so a subprocess server gets it through its launcher's ``env=``
and an in-process one through the test's environment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from typing import Any

from fakeprovider.state import DEFAULT_KEY

import asyncllm as al
from asyncllm.serving import remote_method, route

PROVIDER_KEY = DEFAULT_KEY  # the server's own provider key: no caller may make it travel elsewhere

_built: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    if name == "chat":
        url = os.environ["SEC_FAKE_URL"]
        if url not in _built:
            _built[url] = al.OnlineChatModule(source="openai", base_url=url + "/v1/", api_key=PROVIDER_KEY,
                                              model="gpt-4o-mini", stream=False, name="served-chat")
        return _built[url]
    raise AttributeError(name)


def echo(*args: Any, **kw: Any) -> dict[str, Any]:
    return {"args": list(args), "kw": kw}


def double(x: Any) -> Any:
    return x * 2


def hog_fds(seconds: float) -> int:
    """Take every free file descriptor of this process for ``seconds`` (then give them back):
    the server's own accept calls fail meanwhile."""
    fds: list[int] = []
    try:
        while True:
            fds.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass

    def release() -> None:
        for fd in fds:
            os.close(fd)

    threading.Timer(float(seconds), release).start()
    return len(fds)


class Tools(al.ModuleBase):
    """Opens one method and one route; both forward extra keywords to an inner call."""

    async def forward(self, x: Any) -> Any:
        return x

    @remote_method
    def lookup(self, key: str, **extra: Any) -> dict[str, Any]:
        return {"key": key, "extra": extra}

    @route("/search", methods=["POST"])
    def search(self, q: str, limit: int = 3, **extra: Any) -> dict[str, Any]:
        return {"q": q, "limit": limit, "extra": extra}


tools = Tools(name="tools")


shout = al.pipeline(lambda q: q.upper())  # a served flow whose first item is a plain function


class HistoryCounter(al.ModuleBase):
    """Answers how much history it was given, and what the session's conversation holds."""

    async def forward(self, query: str, llm_chat_history: list[Any] | None = None) -> str:
        roles = [m["role"] for m in al.current_session().conversation]
        return f"{query}: {len(llm_chat_history or [])} given, conversation {roles}"


counting_flow = al.pipeline(lambda q: q.strip(), HistoryCounter())


def unencodable(counter: str, kind: str) -> Any:
    """Counts its runs (a line in ``counter``), then returns what JSON cannot hold."""
    with open(counter, "a") as f:
        f.write("run\n")
    if kind == "bigint":
        return 2**70
    if kind == "deep":
        value: Any = "bottom"
        for _ in range(300):
            value = [value]
        return value
    return "lone \ud800 surrogate"


async def streams_unencodable(counter: str) -> AsyncIterator[str]:
    """Streams one fine chunk, then one JSON cannot hold."""
    with open(counter, "a") as f:  # noqa: ASYNC230  (a test target: one tiny append)
        f.write("run\n")
    yield "fine"
    yield "lone \udc00"
