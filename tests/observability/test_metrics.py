"""Prometheus metrics of a served module, scraped after real traffic and matched to it exactly:
requests by route and status, latency and stream histograms, in-flight requests, the served
LLM's tokens; behind the key; bounded labels whatever path a caller sends."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY
from prometheus_client.parser import text_string_to_metric_families

import asyncllm as al
from asyncllm.serving import ServerModule

pytestmark = pytest.mark.anyio

KEY = "sk-metrics-0123456789"


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_match_the_traffic(fake: FakeServer) -> None:
    # no system prompt: the input tokens counted below are the prompt's words alone
    llm = al.OnlineChatModule(source="openai", base_url=fake + "/v1/", api_key=DEFAULT_KEY, stream=True,
                              system_prompt="")
    async with ServerModule(llm, security_key=KEY, metrics=True) as s, \
            httpx.AsyncClient(base_url=s.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30) as c:
        async def call(i: int) -> None:
            r = await c.post("/generate", json={"args": [f"q{i}"]})
            assert r.status_code == 200

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(call, i)
        for _ in range(3):
            assert (await c.post("/generate", json={"args": [1], "kwargs": {"base_url": "x"}})).status_code == 403
        for path in ("/nope", "/../etc", "/a" * 50):  # whatever a caller sends, labels stay bounded
            assert (await c.get(path)).status_code == 404
        async with c.stream("POST", "/generate", json={"args": ["streamed"]},
                            headers={"accept": "text/event-stream"}) as r:
            assert "event: result" in "".join([chunk async for chunk in r.aiter_text()])
        async with httpx.AsyncClient() as anonymous:
            assert (await anonymous.get(f"{s.url}/metrics")).status_code == 401  # behind the key
        # A request is counted when its response has gone out, which is after the client has
        # read it: scrape until the stream's own request has left the in-flight gauge.
        with anyio.fail_after(10):
            while True:
                m = scrape((await c.get("/metrics")).text)
                if m[("asyncllm_requests_in_flight", ())] == 1:  # the scrape itself
                    break
                await anyio.sleep(0.01)
        usage = [r["body"] for r in fake.state.requests]
    assert m[("asyncllm_requests_total", (("route", "/generate"), ("status", "200")))] == 21
    assert m[("asyncllm_requests_total", (("route", "/generate"), ("status", "403")))] == 3
    assert m[("asyncllm_requests_total", (("route", "unmatched"), ("status", "404")))] == 3
    assert not any(("route", "/nope") in labels for _, labels in m)
    assert m[("asyncllm_request_duration_seconds_count", (("route", "/generate"),))] == 24
    assert m[("asyncllm_stream_duration_seconds_count", (("route", "/generate"),))] == 1
    assert m[("asyncllm_requests_in_flight", ())] == 1  # the scrape itself
    # the fake counts one input token per word of the prompt and answers 'fake reply to: <q>'
    assert m[("asyncllm_tokens_total", (("direction", "output"),))] == 21 * 4
    assert m[("asyncllm_tokens_total", (("direction", "input"),))] == 21 and len(usage) == 21


async def test_metrics_are_off_by_default() -> None:
    async with ServerModule(abs) as s, httpx.AsyncClient(base_url=s.url) as c:
        assert (await c.get("/metrics")).status_code == 404


def test_a_missing_exporter_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_prometheus(name: str, *args: Any, **kw: Any) -> Any:
        if name.startswith("prometheus_client"):
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_prometheus)
    with pytest.raises(al.MissingDependencyError, match=r"asyncllm\[metrics\]"):
        al.create_app(abs, metrics=True)
