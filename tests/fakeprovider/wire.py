"""Wire helpers shared by the fake routes: auth per flavour, error bodies, JSON and SSE responses.

``SSEBody`` always listens for ``http.disconnect`` (starlette's ``StreamingResponse`` stops
doing so for ASGI spec >= 2.4), so a stalled stream notices a client that went away, and
records it in the state for tests to assert on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import errors
from .state import FakeState, Fault, verify_sensenova_jwt

DROP = b"\x00drop"  # yielded by a body generator: abort the connection mid-stream
STALL_FOREVER = 3600.0


def common_headers(request: Request, state: FakeState) -> dict[str, str]:
    client = request.client
    return {
        "x-fake-conn": str(client.port if client else 0),  # same port = same (kept-alive) connection
        "x-request-id": state.next_id("req-"),
    }


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def error_body(flavor: str, status: int, message: str, etype: str, code: str | None = None,
               request_id: str = "") -> Any:
    if flavor == "anthropic":
        return {"type": "error", "error": {"type": etype, "message": message}}
    if flavor == "dashscope":
        return {"code": code or etype, "message": message, "request_id": request_id}
    if flavor == "gemini":  # google.rpc.Status: https://ai.google.dev/gemini-api/docs/troubleshooting
        return {"error": {"code": status, "message": message, "status": GOOGLE_STATUS.get(status, "UNKNOWN")}}
    if flavor == "ollama":  # {"error": "..."}: ollama 0.6.3 _client.py ResponseError
        return {"error": message}
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def credential(request: Request) -> str:
    """The key a request carries: ``x-api-key`` / ``api-key`` (Azure) / ``x-goog-api-key`` (Gemini),
    else the Bearer token ("" when none)."""
    for name in ("x-api-key", "api-key", "x-goog-api-key"):
        if key := request.headers.get(name):
            return key
    auth = request.headers.get("authorization", "")
    return auth[7:] if auth[:7].lower() == "bearer " else ""


def check_auth(request: Request, flavor: str, state: FakeState, headers: dict[str, str]) -> Response | None:
    """None when authorised, else the flavour's 401 answer."""
    rid = headers["x-request-id"]
    if flavor == "anthropic":
        if not request.headers.get("anthropic-version"):
            return json_response(error_body(flavor, 400, "anthropic-version: header is required",
                                            "invalid_request_error"), 400, headers)
        # The key comes as x-api-key (https://docs.anthropic.com/en/api/overview) or, from the official
        # SDK since 2.x, as Authorization: Bearer (anthropic 2.14 _client.py:377 _api_key_auth).
        if credential(request) in state.keys:
            return None
        return json_response(error_body(flavor, 401, "invalid x-api-key", "authentication_error"), 401, headers)
    if flavor == "azure":
        # api-version is required: without it Azure answers 404 "Resource not found"
        # (MicrosoftDocs/azure-docs#114602). Key: `api-key`, or an Entra ID token as Bearer
        # (openai 3.57 lib/azure.py _prepare_options).
        if not request.query_params.get("api-version"):
            return json_response({"error": {"code": "404", "message": "Resource not found"}}, 404, headers)
        if credential(request) in state.keys:
            return None
        return json_response({"error": {"code": "401", "message": "Access denied due to invalid subscription key or "
                                        "wrong API endpoint. Make sure to provide a valid key for an active "
                                        "subscription and use a correct regional API endpoint for your resource."}},
                             401, headers)
    if flavor == "gemini":
        # x-goog-api-key (google-genai 3.3 _api_client.py) or ?key=; a bad key is a 400 whose details
        # say API_KEY_INVALID (https://ai.google.dev/gemini-api/docs/troubleshooting)
        if (credential(request) or request.query_params.get("key", "")) in state.keys:
            return None
        return json_response({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                        "status": "INVALID_ARGUMENT", "details": [
                                            {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                             "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}},
                             400, headers)
    if flavor == "ollama":
        return None  # a local server takes no key
    if flavor == "azure-v1" and credential(request) in state.keys:
        return None  # api-key or Bearer
    auth = request.headers.get("authorization", "")
    token = auth[7:] if auth[:7].lower() == "bearer " else ""
    if flavor == "sensenova":
        why = verify_sensenova_jwt(token) if token.count(".") == 2 else (
            None if token in state.keys else "invalid key")
        if why is None:
            return None
        return json_response({"error": {"code": 16, "message": f"invalid token: {why}", "details": []}}, 401, headers)
    if token in state.keys:
        return None
    if flavor == "minimax":  # MiniMax answers auth failures with HTTP 200 and a base_resp code
        return json_response({"base_resp": {"status_code": 1004, "status_msg": "login fail: Please carry the "
                                            "API secret key in the 'Authorization' field of the request header"}},
                             200, headers)
    if flavor == "dashscope":
        return json_response(error_body(flavor, 401, "Invalid API-key provided.", "InvalidApiKey",
                                        request_id=rid), 401, headers)
    shown = (token[:3] + "***" + token[-2:]) if len(token) > 6 else "***"
    return json_response(error_body(flavor, 401, f"Incorrect API key provided: {shown}.", "invalid_request_error",
                                    "invalid_api_key"), 401, headers)


async def pre_header_fault(fault: Fault | None, flavor: str, headers: dict[str, str],
                           request: Request) -> Response | None:
    """Faults that replace the answer before any header is sent."""
    if fault is None:
        return None
    rid = headers["x-request-id"]
    if fault.name == "stall-first":
        await anyio.sleep(fault.seconds(STALL_FOREVER))
        return None
    if fault.name == "quota":
        status, body = errors.quota(flavor, rid)
        return json_response(body, status, headers)
    if fault.name == "blocked" and (refused := errors.refusal(flavor, rid)) is not None:
        return json_response(refused[1], refused[0], headers)
    if fault.name == "huge-error":  # an error body far past any sane read limit
        return json_response(error_body(flavor, 500, "x" * 300_000, "server_error", request_id=rid), 500, headers)
    status = fault.status
    if status is None:
        return None
    h = dict(headers)
    if status in (429, 503, 529):
        h["retry-after"] = request.headers.get("x-fake-retry-after", "0")
        if "x-fake-retry-after-ms" in request.headers:
            h["retry-after-ms"] = request.headers["x-fake-retry-after-ms"]
    etype = {429: "rate_limit_exceeded", 503: "overloaded", 529: "overloaded_error", 500: "server_error",
             404: "not_found_error", 400: "invalid_request_error"}.get(status, "api_error")
    if flavor == "anthropic" and status == 429:
        etype = "rate_limit_error"
    if flavor == "dashscope" and status == 429:
        etype = "Throttling.RateQuota"
    return json_response(error_body(flavor, status, f"fake {status} ({fault.name})", etype, request_id=rid),
                         status, h)


class SSEBody(Response):
    """A ``text/event-stream`` response from an async iterator of already-encoded bytes."""

    def __init__(self, chunks: AsyncIterator[bytes], state: FakeState, headers: dict[str, str],
                 media_type: str = "text/event-stream") -> None:
        # Not Response.__init__: it would add ``content-length: 0`` for an empty body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers += [(b"content-type", media_type.encode()), (b"cache-control", b"no-cache")]
        self.chunks = chunks
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        state.stream_opened()
        disconnected = finished = False
        try:
            async with anyio.create_task_group() as tg:
                async def watch() -> None:
                    nonlocal disconnected
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    disconnected = not finished  # hypercorn also reports a close after a full body
                    tg.cancel_scope.cancel()

                tg.start_soon(watch)
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                async for chunk in self.chunks:
                    if chunk is DROP:
                        # An exception after the body started makes hypercorn close the socket
                        # without the terminating chunk: a mid-stream drop, as the client sees it.
                        raise ConnectionAbortedError("fake provider: scripted drop")
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                tg.cancel_scope.cancel()
        finally:
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:  # a generator cut short by a disconnect: close it now, not at GC
                with anyio.CancelScope(shield=True):
                    await aclose()
            state.stream_ended(disconnected)
