"""Golden request/response files for providers without an official Python SDK on PyPI (MiniMax,
Kimi, SenseNova's chat API, vLLM): built from the facts their published docs state — field names,
nesting, codes, the order of stream events — each file naming its source and the date checked.
The wording is ours; the shapes are theirs.

``POST /golden/<name>/<anything>`` answers with the file's ``response`` (a JSON body, or SSE
events when it has ``sse``) after recording the request like every fake route, so asyncllm can
be pointed at a file with ``base_url=<fake>/golden/<name>/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from fakeprovider.state import FakeState, key_tag
from fakeprovider.wire import SSEBody, check_auth, common_headers, credential, json_response
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from asyncllm.streaming.sse import encode_sse

GOLDEN = Path(__file__).with_name("golden")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((GOLDEN / f"{name}.json").read_bytes())
    return data


def names() -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.json"))


def shape(value: Any) -> Any:
    """The structure of a JSON value: key paths and value types, list items by their first one."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def covers(fake: Any, golden: Any) -> list[str]:
    """Where the fake's answer lacks a key path of the golden one, or has another type there."""
    if isinstance(golden, dict):
        if not isinstance(fake, dict):
            return [f"expected an object, the fake has {fake!r}"]
        out = []
        for k, v in golden.items():
            if k not in fake:
                out.append(f"missing {k!r}")
            else:
                out.extend(f"{k}.{m}" for m in covers(fake[k], v))
        return out
    if isinstance(golden, list):
        if not golden or not fake:
            return []
        return [f"[0].{m}" for m in covers(fake[0], golden[0])] if isinstance(fake, list) else ["expected a list"]
    numbers = {"int", "float"}
    same = fake == golden or (fake in numbers and golden in numbers) or "NoneType" in (fake, golden)
    return [] if same else [f"type {fake} where the docs have {golden}"]


def add_golden_routes(app: Starlette) -> Starlette:
    st: FakeState = app.state.fake

    async def replay(request: Request) -> Response:
        headers = common_headers(request, st)
        raw = await request.body()
        st.requests.append({"path": request.url.path, "method": request.method,
                            "body": orjson.loads(raw) if raw else {},
                            "headers": {k: v for k, v in request.headers.items() if k != "authorization"},
                            "key": key_tag(credential(request))})
        denied = check_auth(request, "openai", st, headers)
        if denied is not None:
            return denied
        golden = load(request.path_params["name"])["response"]
        if "sse" not in golden:
            return json_response(golden["json"], golden.get("status", 200), headers)

        async def events() -> AsyncIterator[bytes]:
            for ev in golden["sse"]:
                yield b"data: [DONE]\n\n" if ev == "[DONE]" else encode_sse(orjson.dumps(ev))

        return SSEBody(events(), st, headers)

    app.router.routes.append(Route("/golden/{name}/{rest:path}", replay, methods=["POST"]))
    return app
