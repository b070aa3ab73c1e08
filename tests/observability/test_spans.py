"""The span tree of real calls, asserted exactly: a pipeline with a parallel, an online chat call
(the fake provider) and a served module called over HTTP (in-process and subprocess servers) is
one trace, nested as the flows nest, with GenAI attributes on the model call, no key or message
content in any attribute unless asked for, and nothing at all when instrumentation is off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
import tracing_targets  # noqa: F401  (the served module's process instruments itself on import)
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import asyncllm as al
from asyncllm.modules.base import ModuleBase
from asyncllm.serving import ServerModule, SubprocessLauncher

pytestmark = pytest.mark.anyio


def tree(records: list[dict[str, Any]], unordered: frozenset[str] = frozenset({"fan"})) -> list[Any]:
    """``[(name, [children...]), ...]`` from span records, children in start order (by name under
    the spans named in ``unordered``: parallel branches start in any order)."""
    by_parent: dict[Any, list[dict[str, Any]]] = {}
    ids = {r["span_id"] for r in records}
    for r in records:
        by_parent.setdefault(r["parent_id"] if r["parent_id"] in ids else None, []).append(r)

    def build(parent: Any, name: str = "") -> list[Any]:
        key = (lambda r: r["name"]) if name in unordered else (lambda r: r["start"])
        return [(r["name"], build(r["span_id"], r["name"])) for r in sorted(by_parent.get(parent, []), key=key)]

    return build(None)


def records(exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    return [{"name": s.name, "span_id": s.context.span_id, "trace_id": s.context.trace_id,
             "parent_id": s.parent.span_id if s.parent else None, "start": s.start_time,
             "kind": s.kind.name, "attributes": dict(s.attributes or {}), "events": [e.name for e in s.events],
             "status": s.status.status_code.name}
            for s in exporter.get_finished_spans()]


def chat(fake: FakeServer, **kw: Any) -> Any:
    return al.OnlineChatModule(source="openai", base_url=fake + "/v1/", api_key=DEFAULT_KEY, model="gpt-4o-mini",
                               name="chat", **kw)


def count(text: str) -> int:
    return len(text)


@pytest.mark.parametrize("launcher", ["inprocess", "subprocess"])
async def test_one_trace_across_a_flow_a_model_and_a_served_module(spans: InMemorySpanExporter, fake: FakeServer,
                                                                   launcher: str, tmp_path: Path) -> None:
    trace_file = tmp_path / "server-spans.jsonl"
    chosen: Any = SubprocessLauncher(env={"TRACE_FILE": str(trace_file)}) if launcher == "subprocess" else launcher
    remote = ServerModule("tracing_targets:served_flow", launcher=chosen, name="remote")
    flow = al.pipeline(
        lambda x: x + " world",
        al.parallel(chat(fake, stream=False), count, _name="fan"),
        lambda answer, n: f"{answer} ({n})",
        remote,
        _name="flow",
    )
    async with remote:
        assert await flow("hello") == "FAKE REPLY TO: HELLO WORLD (11)"
    await al.aclose()
    got = records(spans)
    if launcher == "subprocess":  # the served process wrote its own spans; same trace
        with anyio.fail_after(5):
            while not trace_file.exists():
                await anyio.sleep(0.05)
        got += [{**json.loads(line), "start": i} for i, line in enumerate(trace_file.read_text().splitlines())]
    client = {r["name"] for r in got}
    assert "POST /generate" in client
    assert len({r["trace_id"] for r in got if r["name"] not in ("GET", "GET /health", "GET /info")}) == 1
    probes = {"GET", "GET /health", "GET /info"}  # start-up health checks: their own traces
    main = [r for r in got if r["name"] not in probes]
    assert tree(main) == [
        ("flow", [
            ("<lambda>", []),
            ("fan", [  # parallel branches: siblings
                ("chat gpt-4o-mini", [("POST", [])]),
                ("count", []),
            ]),
            ("<lambda>", []),
            ("remote", [("POST", [("POST /generate", [("served-flow", [("shout", [])])])])]),
        ]),
    ]
    llm = next(r for r in got if r["name"] == "chat gpt-4o-mini")["attributes"]
    assert llm["gen_ai.operation.name"] == "chat" and llm["gen_ai.provider.name"] == "openai"
    assert llm["gen_ai.request.model"] == llm["gen_ai.response.model"] == "gpt-4o-mini"
    assert llm["gen_ai.usage.input_tokens"] > 0 and llm["gen_ai.usage.output_tokens"] > 0
    assert llm["gen_ai.response.finish_reasons"] == ("stop",)
    assert llm["asyncllm.module.name"] == "chat"
    http = [r for r in got if r["name"] == "POST" and r["kind"] == "CLIENT"]
    assert all(r["attributes"]["http.response.status_code"] == 200 for r in http)
    server = next(r for r in got if r["name"] == "POST /generate")
    assert server["kind"] == "SERVER" and server["attributes"]["http.response.status_code"] == 200
    blob = json.dumps([r["attributes"] for r in got])
    assert DEFAULT_KEY not in blob and "hello" not in blob  # neither the key nor the messages


async def test_streams_errors_and_cancellation(spans: InMemorySpanExporter, fake: FakeServer) -> None:
    streaming = chat(fake, stream=True)
    pieces = [str(c) async for c in streaming.stream("hi")]  # the bare form: read in our own task
    assert "".join(pieces) == "fake reply to: hi"

    class Boom(al.ModuleBase):
        async def forward(self, x: Any) -> Any:
            raise ValueError("boom")

    class Slow(al.ModuleBase):
        async def forward(self, x: Any) -> Any:
            await anyio.sleep(10)

    with pytest.raises(al.ModuleExecutionError):
        await Boom(name="boom")(1)
    with anyio.move_on_after(0.1):
        await Slow(name="slow")(1)
    got = {r["name"]: r for r in records(spans)}
    stream_span = got["chat gpt-4o-mini"]
    assert "gen_ai.first_chunk" in stream_span["events"]
    assert tree(list(got.values()))[0] == ("chat gpt-4o-mini", [("POST", [])])
    assert got["boom"]["status"] == "ERROR"
    assert got["slow"]["status"] == "UNSET" and got["slow"]["attributes"]["asyncllm.cancelled"] is True


async def test_retries_are_events_of_the_http_span(spans: InMemorySpanExporter, fake: FakeServer) -> None:
    from asyncllm._http import HTTPSettings, request_json

    fast = HTTPSettings(backoff_base=0.01)
    await request_json("POST", fake + "/v1/chat/completions", settings=fast, headers={
        "authorization": f"Bearer {DEFAULT_KEY}", "x-fake-fault": "503:1", "x-fake-fault-key": "retry-test"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
    http = next(r for r in records(spans) if r["name"] == "POST")
    assert http["events"] == ["http.retry"] and http["attributes"]["http.response.status_code"] == 200


async def test_content_is_recorded_only_when_asked(fake: FakeServer) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    al.instrument(tracer_provider=provider, capture_content=True)
    try:
        await chat(fake, stream=False)("a secret question")
    finally:
        al.instrument(False)
    llm = next(r for r in records(exporter) if r["name"].startswith("chat"))["attributes"]
    assert "a secret question" in llm["gen_ai.input.messages"]
    assert "fake reply to: a secret question" in llm["gen_ai.output.messages"]


async def test_off_means_no_spans_and_the_plain_call_path(fake: FakeServer) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    original = ModuleBase.__call__
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    al.instrument(tracer_provider=provider)
    assert ModuleBase.__call__ is not original
    al.instrument(False)
    assert ModuleBase.__call__ is original  # the call path is exactly the uninstrumented one
    await al.pipeline(lambda x: x, chat(fake, stream=False))("hi")
    assert exporter.get_finished_spans() == ()


async def test_return_trace_reads_as_the_span_tree(spans: InMemorySpanExporter) -> None:
    class Step(al.ModuleBase):
        def __init__(self, name: str, inner: Any = None) -> None:
            super().__init__(return_trace=True, name=name)
            self.inner = inner

        async def forward(self, x: str) -> str:
            if self.inner is not None:
                x = await self.inner(x)
            return x + self.name

    outer = Step("a", Step("b", Step("c")))
    with al.session() as sess:
        assert await outer("") == "cba"
    assert sess.trace == ["c", "cb", "cba"]
    assert sess.trace_tree() == [{"module": "a", "output": "cba", "children": [
        {"module": "b", "output": "cb", "children": [{"module": "c", "output": "c", "children": []}]}]}]


async def test_a_stream_that_cannot_be_sent_ends_its_span(spans: InMemorySpanExporter) -> None:
    """A request that fails before anything is sent (a body that is not JSON) still ends the
    HTTP span it opened, marked as an error; an unended span would never be exported."""
    from asyncllm._http import stream_sse

    with pytest.raises(TypeError):
        async with stream_sse("POST", "http://127.0.0.1:9/v1/chat/completions", json={"x": object()}):
            pass
    done = records(spans)
    assert [r["name"] for r in done] == ["POST"] and done[0]["status"] == "ERROR"
