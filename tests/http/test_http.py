"""The HTTP layer over real sockets against the fake provider, on asyncio (aiohttp transport)
and trio (httpx transport)."""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY, make_sensenova_jwt

from asyncllm import _http
from asyncllm._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    ProviderOverloadedError,
    QuotaExceededError,
    RateLimitError,
)
from asyncllm._http import HTTPSettings, aclose_all, errors, request_json, request_raw, retry, stream_sse

pytestmark = [
    pytest.mark.anyio,
    # httpcore (the trio transport) leaves its inner body generator to the garbage collector
    # when a response is closed before its end; trio reports that as a ResourceWarning.
    pytest.mark.filterwarnings("ignore:Async generator 'httpcore.:ResourceWarning"),
]

AUTH = {"authorization": f"Bearer {DEFAULT_KEY}"}
FAST = HTTPSettings(backoff_base=0.01, backoff_max=0.05)


def chat_body(text: str = "hello world", **kw: Any) -> dict[str, Any]:
    return {"model": "fake-chat", "messages": [{"role": "user", "content": text}], **kw}


def fault(spec: str, **extra: str) -> dict[str, str]:
    return {**AUTH, "x-fake-fault": spec, **extra}


def paths(fake: FakeServer, suffix: str) -> int:
    return sum(1 for r in fake.state.requests if r["path"].endswith(suffix))


# ----------------------------------------------------------------------------- happy paths


async def test_request_json(fake: FakeServer) -> None:
    body, headers = await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body("hi there"),
                                       headers=AUTH)
    assert body["choices"][0]["message"]["content"] == "fake reply to: hi there"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert headers["x-request-id"].startswith("req-")
    assert fake.state.requests[0]["body"]["messages"][0]["content"] == "hi there"


async def test_stream_openai_with_usage(fake: FakeServer) -> None:
    seen: list[int] = []
    async with stream_sse("POST", f"{fake}/v1/chat/completions", headers=AUTH,
                          json=chat_body("a b c", stream=True, stream_options={"include_usage": True}),
                          on_open=lambda r: seen.append(r.status_code)) as events:
        items = [ev async for ev in events]
    assert seen == [200]
    assert items[-1].is_done
    chunks = [ev.json() for ev in items[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "fake reply to: a b c"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 6
    assert fake.state.stream_closed is not None
    with anyio.fail_after(2):
        await fake.state.stream_closed.wait()
    assert fake.state.disconnects == 0


async def test_stream_anthropic_event_names(fake: FakeServer) -> None:
    headers = {"x-api-key": DEFAULT_KEY, "anthropic-version": "2023-06-01"}
    body = {"model": "claude-thinking", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "x y"}]}
    async with stream_sse("POST", f"{fake}/v1/messages", json=body, headers=headers) as events:
        items = [ev async for ev in events]
    names = [ev.event for ev in items]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    deltas = [ev.json()["delta"] for ev in items if ev.event == "content_block_delta"]
    assert {d["type"] for d in deltas} == {"thinking_delta", "signature_delta", "text_delta"}
    assert "".join(d.get("text", "") for d in deltas) == "fake reply to: x y"
    assert next(ev.json() for ev in items if ev.event == "message_delta")["usage"]["output_tokens"] == 5


async def test_keepalive_reuses_one_connection(fake: FakeServer) -> None:
    ports = []
    for _ in range(4):
        _, headers = await request_json("POST", f"{fake}/v1/embeddings", headers=AUTH,
                                        json={"model": "e", "input": ["a", "b"]})
        ports.append(headers["x-fake-conn"])
    async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat_body(stream=True), headers=AUTH) as ev:
        ports.append(ev.response.headers["x-fake-conn"])
        [_ async for _ in ev]
    _, headers = await request_json("POST", f"{fake}/v1/embeddings", headers=AUTH, json={"model": "e", "input": "a"})
    ports.append(headers["x-fake-conn"])
    assert len(set(ports)) == 1, ports


async def test_aclose_all_closes_pools(fake: FakeServer) -> None:
    url = f"{fake}/v1/embeddings"
    _, h1 = await request_json("POST", url, headers=AUTH, json={"model": "e", "input": "a"})
    transport = _http.get_transport(url)
    await aclose_all()
    assert _http.get_transport(url) is not transport  # a fresh pool ...
    _, h2 = await request_json("POST", url, headers=AUTH, json={"model": "e", "input": "a"})
    assert h1["x-fake-conn"] != h2["x-fake-conn"]  # ... on a fresh connection


async def test_request_raw_multipart_and_finetune_flow(fake: FakeServer) -> None:
    up = await request_raw("POST", f"{fake}/v1/files", headers=AUTH, data={"purpose": "fine-tune"},
                           files={"file": ("train.jsonl", b'{"messages": []}\n', "application/jsonl")})
    file_obj = up.json()
    assert file_obj["bytes"] == 17 and file_obj["purpose"] == "fine-tune"
    job, _ = await request_json("POST", f"{fake}/v1/fine_tuning/jobs", headers=AUTH,
                                json={"model": "gpt-4o-mini", "training_file": file_obj["id"], "suffix": "t"})
    statuses = []
    while job["status"] != "succeeded":
        job, _ = await request_json("GET", f"{fake}/v1/fine_tuning/jobs/{job['id']}", headers=AUTH)
        statuses.append(job["status"])
    assert statuses == ["queued", "running", "succeeded"]
    assert job["fine_tuned_model"].startswith("ft:gpt-4o-mini:fake-org:t:")


async def test_provider_shapes(fake: FakeServer) -> None:
    ds, _ = await request_json("POST", f"{fake}/api/v1/services/embeddings/text-embedding/text-embedding",
                               headers=AUTH, json={"model": "text-embedding-v1", "input": {"texts": ["a", "b"]}})
    assert [e["text_index"] for e in ds["output"]["embeddings"]] == [0, 1]
    rr, _ = await request_json("POST", f"{fake}/api/paas/v4/rerank", headers=AUTH,
                               json={"query": "red apple", "documents": ["blue sky", "red apple pie"], "top_n": 1})
    assert rr["results"] == [{"index": 1, "relevance_score": 1.0}]
    jwt = {"authorization": f"Bearer {make_sensenova_jwt()}"}
    sn, _ = await request_json("POST", f"{fake}/sensenova/v1/chat/completions", headers=jwt, json=chat_body("q"))
    assert sn["choices"][0]["message"]["content"] == "fake reply to: q"
    bad = {"authorization": f"Bearer {make_sensenova_jwt(sk='wrong')}"}
    with pytest.raises(AuthenticationError, match="bad signature"):
        await request_json("POST", f"{fake}/sensenova/v1/chat/completions", headers=bad, json=chat_body())


# ----------------------------------------------------------------------------- timeouts


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A port whose accept queue is full: SYNs are dropped, so connecting hangs."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            c.connect(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    for c in fillers:
        c.close()
    srv.close()


async def test_connect_timeout(blackhole: str, pools: None) -> None:
    s = HTTPSettings(connect_timeout=0.3, max_attempts=1)
    t0 = anyio.current_time()
    with pytest.raises(APITimeoutError) as ei:
        await request_json("GET", f"{blackhole}/x", settings=s)
    assert ei.value.kind == "connect"
    assert anyio.current_time() - t0 < 3


async def test_connect_refused_is_connection_error(pools: None) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    srv.close()  # nothing listens there now
    with pytest.raises(APIConnectionError, match="could not connect"):
        await request_json("GET", f"http://127.0.0.1:{port}/x", settings=FAST)


async def test_first_chunk_timeout(fake: FakeServer) -> None:
    s = HTTPSettings(first_chunk_timeout=0.3, max_attempts=1)
    with pytest.raises(APITimeoutError) as ei:
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(), headers=fault("stall-first"),
                           settings=s)
    assert ei.value.kind == "first_chunk"
    with pytest.raises(APITimeoutError) as ei:
        async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat_body(stream=True),
                              headers=fault("stall-first"), settings=s):
            pass
    assert ei.value.kind == "first_chunk"


async def test_idle_timeout(fake: FakeServer) -> None:
    s = HTTPSettings(idle_timeout=0.3, max_attempts=1)
    got = []
    with pytest.raises(APITimeoutError) as ei:
        async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat_body(stream=True),
                              headers=fault("stall-mid"), settings=s) as events:
            async for ev in events:
                got.append(ev)
    assert ei.value.kind == "idle" and len(got) == 3
    with pytest.raises(APITimeoutError) as ei:  # non-streamed: headers and half a body, then nothing
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(), headers=fault("stall-mid"),
                           settings=s)
    assert ei.value.kind == "idle"


async def test_deadlines_of_calls_that_overlap_each_fire(fake: FakeServer) -> None:
    """The pool keeps many calls' deadlines at once (on asyncio one watchdog timer for all): a
    call whose deadline is later than one that already finished still times out, and calls
    stalled together each get their own timeout while a healthy call next to them succeeds."""
    url = f"{fake}/v1/chat/completions"
    quick = HTTPSettings(first_chunk_timeout=0.2, idle_timeout=0.2, max_attempts=1)
    slow = HTTPSettings(first_chunk_timeout=0.6, idle_timeout=0.6, max_attempts=1)
    await request_json("POST", url, json=chat_body(), headers=AUTH, settings=quick)  # done long before its deadline
    kinds: list[str] = []

    async def stalled(s: HTTPSettings, spec: str) -> None:
        with pytest.raises(APITimeoutError) as ei:
            if spec == "stall-first":
                await request_json("POST", url, json=chat_body(), headers=fault(spec), settings=s)
            else:
                async with stream_sse("POST", url, json=chat_body(stream=True), headers=fault(spec),
                                      settings=s) as events:
                    [_ async for _ in events]
        kinds.append(ei.value.kind)

    with anyio.fail_after(10):  # a deadline nobody keeps would hang here
        async with anyio.create_task_group() as tg:
            tg.start_soon(stalled, slow, "stall-first")
            tg.start_soon(stalled, quick, "stall-mid")
            tg.start_soon(stalled, slow, "stall-mid")
            body, _ = await request_json("POST", url, json=chat_body("ok"), headers=AUTH, settings=slow)
    assert body["choices"][0]["message"]["content"] == "fake reply to: ok"
    assert sorted(kinds) == ["first_chunk", "idle", "idle"]


async def test_total_timeout(fake: FakeServer) -> None:
    s = HTTPSettings(idle_timeout=30, first_chunk_timeout=30, total_timeout=0.5)
    t0 = anyio.current_time()
    with pytest.raises(APITimeoutError) as ei:
        async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat_body(stream=True),
                              headers=fault("stall-mid"), settings=s) as events:
            [_ async for _ in events]
    assert ei.value.kind == "total"
    assert anyio.current_time() - t0 < 3
    # non-streamed too (on trio one scope covers the attempt: its renewals never pass the total)
    t0 = anyio.current_time()
    with pytest.raises(APITimeoutError) as ei:
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(), headers=fault("stall-mid"),
                           settings=s)
    assert ei.value.kind == "total"
    assert anyio.current_time() - t0 < 3
    # a retry whose back-off would pass the deadline is not attempted: the real error surfaces
    s2 = HTTPSettings(total_timeout=2, max_attempts=10)
    before = paths(fake, "/chat/completions")
    t0 = anyio.current_time()
    with pytest.raises(ProviderOverloadedError):
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(),
                           headers=fault("503", **{"x-fake-retry-after": "0.8"}), settings=s2)
    assert paths(fake, "/chat/completions") - before == 3  # at 0, 0.8, 1.6 s; a 4th would start at 2.4 s
    assert anyio.current_time() - t0 < 2


# ----------------------------------------------------------------------------- retries


async def test_retry_429_honours_retry_after(fake: FakeServer) -> None:
    t0 = anyio.current_time()
    body, _ = await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body("r"),
                                 headers=fault("429:2", **{"x-fake-retry-after": "0.25"}),
                                 settings=HTTPSettings(backoff_base=5))  # backoff would be far longer
    assert body["choices"][0]["message"]["content"] == "fake reply to: r"
    assert paths(fake, "/chat/completions") == 3
    assert 0.5 <= anyio.current_time() - t0 < 3


async def test_retry_after_ms_wins(fake: FakeServer) -> None:
    t0 = anyio.current_time()
    await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(), settings=HTTPSettings(),
                       headers=fault("429:1", **{"x-fake-retry-after": "30", "x-fake-retry-after-ms": "50"}))
    assert anyio.current_time() - t0 < 2


async def test_retry_503_then_success_and_stream_retry(fake: FakeServer) -> None:
    body, _ = await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(), headers=fault("503:2"),
                                 settings=FAST)
    assert body["choices"][0]["finish_reason"] == "stop"
    assert paths(fake, "/chat/completions") == 3
    async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat_body(stream=True),
                          headers=fault("500:1"), settings=FAST) as events:
        assert (await events.__anext__()).json()["object"] == "chat.completion.chunk"
    assert paths(fake, "/chat/completions") == 5


async def test_attempts_are_bounded(fake: FakeServer) -> None:
    with pytest.raises(ProviderOverloadedError) as ei:
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(), headers=fault("503"),
                           settings=HTTPSettings(max_attempts=4, backoff_base=0.01))
    assert paths(fake, "/chat/completions") == 4
    assert ei.value.status_code == 503 and ei.value.retry_after == 0


async def test_no_retry_when_retry_after_exceeds_cap(fake: FakeServer) -> None:
    with pytest.raises(RateLimitError) as ei:
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(),
                           headers=fault("429", **{"x-fake-retry-after": "3600"}), settings=FAST)
    assert ei.value.retry_after == 3600 and paths(fake, "/chat/completions") == 1


async def test_no_retry_after_first_chunk(fake: FakeServer) -> None:
    got = []
    with pytest.raises(APIConnectionError, match="connection broke"):
        async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat_body("a b c d e", stream=True),
                              headers=fault("drop"), settings=FAST) as events:
            async for ev in events:
                got.append(ev)
    assert len(got) == 2 and paths(fake, "/chat/completions") == 1


async def test_malformed_frame_is_protocol_error(fake: FakeServer) -> None:
    with pytest.raises(ProtocolError, match="malformed JSON"):
        async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat_body(stream=True),
                              headers=fault("malformed")) as events:
            async for ev in events:
                ev.json()


async def test_finish_reasons_come_through(fake: FakeServer) -> None:
    for reason in ("length", "content_filter"):
        body, _ = await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body("a b c"),
                                     headers=fault(reason))
        assert body["choices"][0]["finish_reason"] == reason


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("status", "cls"), [
    (400, BadRequestError), (403, PermissionDeniedError), (404, NotFoundError), (409, ConflictError),
    (422, BadRequestError), (429, RateLimitError), (500, InternalServerError), (502, ProviderOverloadedError),
    (503, ProviderOverloadedError), (529, ProviderOverloadedError), (418, APIStatusError),
])
async def test_status_maps_to_class(fake: FakeServer, status: int, cls: type[APIStatusError]) -> None:
    with pytest.raises(cls) as ei:
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(), headers=fault(str(status)),
                           settings=HTTPSettings(max_attempts=1), provider="openai", model="fake-chat")
    err = ei.value
    assert type(err) is cls
    assert err.status_code == status and err.provider == "openai" and err.model == "fake-chat"
    assert err.request_id and err.request_id.startswith("req-")
    assert f"fake {status}" in str(err) and err.body["error"]["message"] == f"fake {status} (" + str(status) + ")"


async def test_error_shapes_dashscope_and_anthropic(fake: FakeServer) -> None:
    with pytest.raises(AuthenticationError, match="Invalid API-key") as ei:
        await request_json("POST", f"{fake}/api/v1/services/aigc/text-generation/generation",
                           headers={"authorization": "Bearer nope"}, json={"model": "qwen", "input": {"prompt": "x"}})
    assert ei.value.error_type == "InvalidApiKey"
    with pytest.raises(AuthenticationError, match="invalid x-api-key") as ei:
        await request_json("POST", f"{fake}/v1/messages", json={"model": "c", "max_tokens": 5, "messages": []},
                           headers={"x-api-key": "nope", "anthropic-version": "2023-06-01"})
    assert ei.value.error_type == "authentication_error"


async def test_quota_is_not_retried(fake: FakeServer) -> None:
    with pytest.raises(QuotaExceededError, match="quota") as ei:
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(), headers=fault("quota"),
                           settings=FAST)
    assert ei.value.status_code == 429 and paths(fake, "/chat/completions") == 1
    with pytest.raises(QuotaExceededError):  # DashScope says it with 400 + code Arrearage
        await request_json("POST", f"{fake}/api/v1/services/aigc/text-generation/generation", headers=fault("quota"),
                           json={"model": "qwen", "input": {"prompt": "x"}}, settings=FAST)


async def test_should_retry_header_is_obeyed(pools: None) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, headers={"x-should-retry": "false"}, json={"error": {"message": "busy"}})

    _http.install_transport("http://mock.invalid", httpx.MockTransport(handler))
    with pytest.raises(ProviderOverloadedError):
        await request_json("GET", "http://mock.invalid/x", settings=FAST)
    assert calls == 1


async def test_secrets_never_in_errors(pools: None) -> None:
    key = "sk-live-SECRET-0123456789"

    def handler(request: httpx.Request) -> httpx.Response:  # a careless peer echoing our credentials
        echoed = f"bad key {request.headers['authorization']} / {request.headers['x-api-key']}"
        return httpx.Response(401, json={"error": {"message": echoed, "type": "auth"}})

    _http.install_transport("http://mock.invalid", httpx.MockTransport(handler))
    with pytest.raises(AuthenticationError) as ei:
        await request_json("POST", f"http://mock.invalid/v1/x?key={key}&alt=json", json={"q": 1},
                           headers={"authorization": f"Bearer {key}", "x-api-key": key})
    err = ei.value
    for text in (str(err), repr(err), repr(err.body), str(err.url), repr(err.__dict__)):
        assert key not in text
    assert "alt=json" in str(err.url)


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("Incorrect API key provided: sk-***yz.", "Incorrect API key provided: ***."),
    ("key sk-proj-****************wxyz here", "key *** here"),
    ("key sk-pr...wxyz here", "key *** here"),
    ("a **bold** claim, wait...", "a **bold** claim, wait..."),  # not a key: left alone
    ("another key sk-***zz", "another key sk-***zz"),  # a different key's tail: left alone
])
def test_masked_echo_of_the_key_is_scrubbed(text: str, scrubbed: str) -> None:
    call = errors._Call("http://127.0.0.1/", {"authorization": "Bearer sk-proj-abcdef123456wxyz"}, None, None)
    assert call.scrub(text) == scrubbed


async def test_invalid_key_message_from_fake_is_typed(fake: FakeServer) -> None:
    with pytest.raises(AuthenticationError) as ei:
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(),
                           headers={"authorization": "Bearer sk-wrong-key-123456"})
    assert "sk-wrong-key-123456" not in str(ei.value) and ei.value.status_code == 401


async def test_minimax_business_errors_arrive_as_200(fake: FakeServer) -> None:
    body, _ = await request_json("POST", f"{fake}/minimax/v1/chat/completions", json=chat_body(),
                                 headers={"authorization": "Bearer nope"})
    assert body["base_resp"]["status_code"] == 1004  # the caller (provider module) must check it


# ----------------------------------------------------------------------------- cancellation


async def test_cancel_closes_the_stream(fake: FakeServer) -> None:
    got = []
    with anyio.move_on_after(0.5) as scope:
        async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat_body("a b c d", stream=True),
                              headers=fault("stall-mid")) as events:
            async for ev in events:
                got.append(ev)
    assert scope.cancelled_caught and len(got) == 3
    assert fake.state.stream_closed is not None
    with anyio.fail_after(5):
        await fake.state.stream_closed.wait()  # the server noticed the disconnect
    assert fake.state.disconnects == 1 and fake.state.streams_open == 0


async def test_leaving_early_closes_the_stream(fake: FakeServer) -> None:
    async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat_body("a b c d", stream=True),
                          headers=fault("stall-mid")) as events:
        await events.__anext__()
    assert fake.state.stream_closed is not None
    with anyio.fail_after(5):
        await fake.state.stream_closed.wait()
    assert fake.state.disconnects == 1
    # and the pool still works afterwards
    body, _ = await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body("ok"), headers=AUTH)
    assert body["choices"][0]["message"]["content"] == "fake reply to: ok"


async def test_cancel_during_request_is_not_swallowed(fake: FakeServer) -> None:
    with anyio.move_on_after(0.3) as scope:
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(), headers=fault("stall-first"))
    assert scope.cancelled_caught


# ----------------------------------------------------------------------------- units


def test_retry_after_parsing() -> None:
    h = httpx.Headers
    assert errors._retry_after(h({"retry-after": "2.5"})) == 2.5
    assert errors._retry_after(h({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert errors._retry_after(h({})) is None
    assert errors._retry_after(h({"retry-after": "soon"})) is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 27 <= (errors._retry_after(h({"retry-after": future})) or 0) <= 30
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert errors._retry_after(h({"retry-after": past})) == 0


def test_backoff_is_jittered_exponential_and_capped() -> None:
    s = HTTPSettings()
    for n, base in ((1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (9, 8.0)):
        d = retry._delay(s, None, n)
        assert 0.75 * base <= d <= base
    assert retry._delay(s, RateLimitError("x", status_code=429, retry_after=3), 1) == 3
    assert retry._delay(s, RateLimitError("x", status_code=429, retry_after=999), 1) <= 0.5


@pytest.mark.parametrize(("body", "want"), [
    ({"error": {"message": "m", "type": "t", "code": "c"}}, ("m", "t", "c", None)),
    ({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, ("busy", "overloaded_error", None,
                                                                                  None)),
    ({"code": "Arrearage", "message": "pay", "request_id": "r1"}, ("pay", None, "Arrearage", "r1")),
    ({"base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}},
     ("insufficient balance", None, "1008", None)),
    ("not json", (None, None, None, None)),
])
def test_error_fields(body: Any, want: tuple[str | None, ...]) -> None:
    assert errors._error_fields(body) == want


async def test_gzip_bodies_are_decoded(pools: None) -> None:
    import gzip

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=gzip.compress(b'{"ok": true}'))

    _http.install_transport("http://mock.invalid", httpx.MockTransport(handler))
    body, _ = await request_json("GET", "http://mock.invalid/x")
    assert body == {"ok": True}


async def test_dashscope_native_stream_and_keepalive_comments(fake: FakeServer) -> None:
    body = {"model": "qwen-plus", "input": {"messages": [{"role": "user", "content": "u v"}]},
            "parameters": {"result_format": "message", "incremental_output": True}}
    async with stream_sse("POST", f"{fake}/api/v1/services/aigc/text-generation/generation", json=body,
                          headers={**AUTH, "x-dashscope-sse": "enable", "x-fake-fault": "keepalive"}) as events:
        items = [ev async for ev in events]
    assert {ev.event for ev in items} == {"result"}
    assert [ev.id for ev in items] == [str(i) for i in range(1, len(items) + 1)]
    text = "".join(ev.json()["output"]["choices"][0]["message"]["content"] for ev in items)
    assert text == "fake reply to: u v"
    assert items[-1].json()["output"]["choices"][0]["finish_reason"] == "stop"


async def test_tool_call_deltas_split_by_index(fake: FakeServer) -> None:
    tools = [{"type": "function", "function": {"name": n, "parameters": {}}} for n in ("search", "lookup")]
    args: dict[int, str] = {}
    names: dict[int, str] = {}
    finish = None
    async with stream_sse("POST", f"{fake}/v1/chat/completions", headers=AUTH,
                          json=chat_body("find it", stream=True, tools=tools)) as events:
        async for ev in events:
            if ev.is_done:
                break
            choice = ev.json()["choices"][0]
            finish = choice["finish_reason"] or finish
            for tc in choice["delta"].get("tool_calls") or []:
                names.setdefault(tc["index"], tc.get("function", {}).get("name") or "")
                args[tc["index"]] = args.get(tc["index"], "") + tc["function"].get("arguments", "")
    assert finish == "tool_calls" and names == {0: "search", 1: "lookup"}
    assert orjson.loads(args[1]) == {"query": "find it", "n": 1}


def test_url_redaction_and_validation() -> None:
    assert errors._redact_url("https://h/v1?key=abc&alt=json") == "https://h/v1?key=%2A%2A%2A&alt=json"
    assert "s3cret" not in errors._redact_url("https://user:s3cret@h/v1?api_key=s3cret")
    assert errors._redact_url("https://h/v1/chat") == "https://h/v1/chat"
    with pytest.raises(ConfigError, match="http"):
        _http.get_transport("ftp://h/x")


@pytest.mark.parametrize("idempotent", [True, False])
async def test_broken_after_send_is_retried_only_when_allowed(pools: None, idempotent: bool) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadError("peer reset the connection mid-answer", request=request)
        return httpx.Response(200, json={"ok": calls})

    _http.install_transport("http://mock.invalid", httpx.MockTransport(handler))
    settings = dataclasses.replace(FAST, idempotent=idempotent)
    if idempotent:
        body, _ = await request_json("POST", "http://mock.invalid/x", json={}, settings=settings)
        assert body == {"ok": 2}
        assert calls == 2
    else:
        with pytest.raises(APIConnectionError, match="connection broke"):
            await request_json("POST", "http://mock.invalid/x", json={}, settings=settings)
        assert calls == 1


async def test_connect_failure_is_retried_even_without_idempotent(pools: None) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"ok": True})

    _http.install_transport("http://mock.invalid", httpx.MockTransport(handler))
    settings = dataclasses.replace(FAST, idempotent=False)
    body, _ = await request_json("POST", "http://mock.invalid/x", json={}, settings=settings)
    assert body == {"ok": True} and calls == 2
