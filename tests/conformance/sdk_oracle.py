"""Helpers of the conformance suite: running a synchronous SDK call beside the fake, and comparing
the request asyncllm sent with the one the official SDK sent.

The SDKs are synchronous clients (some have no async one, and the async ones of DashScope and
SenseNova run on asyncio only), so each SDK call runs in a worker thread while the fake keeps
serving from the test's own event loop: the suite runs on asyncio and trio alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import anyio
from fakeprovider.server import FakeServer

T = TypeVar("T")


async def sdk(fn: Callable[..., T], *args: Any) -> T:
    """Run a synchronous SDK call in a worker thread (the fake serves from this loop meanwhile)."""
    return await anyio.to_thread.run_sync(fn, *args)


def normalized(value: Any) -> Any:
    """A body with the keys that say nothing removed: SDKs send ``null`` for every unset
    parameter (Ark, zhipuai) and ``{}`` for empty parameter groups (DashScope); the APIs read both
    as absent."""
    if isinstance(value, dict):
        out = {k: normalized(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in out.items() if v != {}}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def requests_to(fake: FakeServer, path: str) -> list[dict[str, Any]]:
    return [r for r in fake.state.requests if r["path"] == path]


def assert_same_request(ours: dict[str, Any], theirs: dict[str, Any], *, headers: Iterable[str] = (),
                        differ: dict[str, str] | None = None, same_key: bool = True) -> None:
    """The request asyncllm sent and the one the official SDK sent for the same logical call agree
    on the path, the method, the key (by fingerprint), the named headers and the whole body —
    except the body fields in ``differ``, each with the reason it may differ."""
    assert ours["path"] == theirs["path"]
    assert ours["method"] == theirs["method"]
    if same_key:
        assert ours["key"] and ours["key"] == theirs["key"]
    for h in headers:
        assert ours["headers"].get(h) == theirs["headers"].get(h), h
    skip = set(differ or ())
    mine = {k: v for k, v in normalized(ours["body"]).items() if k not in skip}
    sdk_body = {k: v for k, v in normalized(theirs["body"]).items() if k not in skip}
    assert mine == sdk_body


def system_text(chat: Any, instruction: str = "") -> str:
    """The system text a chat module sends: its system prompt (the provider's default unless
    ``system_prompt=`` replaced it), then the prompter's instruction, a newline between."""
    return "\n".join(p for p in (chat.system_prompt, instruction) if p)
