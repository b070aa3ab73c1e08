"""The dummy engine as a real subprocess on 127.0.0.1 port 0, called over HTTP."""

from __future__ import annotations

import math
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import orjson
import pytest
from anyio.abc import Process

MODULE = "asyncllm.deploy._dummy_server"
REPO = Path(__file__).resolve().parents[2]
PARAMS = "{'do_sample': False, 'temperature': 0.1}"


async def _stop(proc: Process) -> None:
    """SIGTERM, then SIGKILL if it lingers; always reaps the child."""
    with anyio.CancelScope(shield=True):
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            with anyio.move_on_after(5):
                await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await proc.aclose()


@asynccontextmanager
async def dummy_engine(*extra: str) -> AsyncIterator[tuple[str, Process]]:
    """Start the engine on port 0, read its port file, wait for /health; yield its base URL."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        cmd = [sys.executable, "-m", MODULE, "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)]
        proc = await anyio.open_process(
            [*cmd, *extra], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=None
        )
        try:
            with anyio.fail_after(30):
                while not port_file.exists():
                    assert proc.returncode is None, "engine exited before binding"
                    await anyio.sleep(0.05)
                base = f"http://127.0.0.1:{int(port_file.read_text())}"
                async with httpx.AsyncClient() as client:
                    while True:
                        try:
                            if (await client.get(f"{base}/health")).status_code == 200:
                                break
                        except httpx.TransportError:
                            pass
                        await anyio.sleep(0.05)
            yield base, proc
        finally:
            await _stop(proc)


@pytest.mark.anyio
async def test_ready_line_port_file_and_models() -> None:
    async with dummy_engine("--model-name", "m1") as (base, proc):
        assert proc.stdout is not None
        line = (await proc.stdout.receive()).decode()
        assert line.startswith(f"ASYNCLLM_READY port={base.rsplit(':', 1)[1]}")
        async with httpx.AsyncClient(base_url=base) as client:
            health = await client.get("/health")
            assert health.json() == {"status": "ok"}
            models = (await client.get("/v1/models")).json()
            assert [m["id"] for m in models["data"]] == ["m1"]


@pytest.mark.anyio
async def test_chat_non_stream_and_stream() -> None:
    async with dummy_engine() as (base, _), httpx.AsyncClient(base_url=base) as client:
        messages = [
            {"role": "system", "content": "be terse"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "hello world"},
        ]
        r = await client.post("/v1/chat/completions", json={"model": "x", "messages": messages})
        assert r.status_code == 200
        body = r.json()
        expected = f"reply for hello world, and parameters is {PARAMS}"
        assert body["choices"][0]["message"] == {"role": "assistant", "content": expected}
        assert body["choices"][0]["finish_reason"] == "stop"
        assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 11, "total_tokens": 13}

        pieces: list[str] = []
        usage = None
        done = False
        async with client.stream("POST", "/v1/chat/completions", json={"messages": messages, "stream": True}) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            async for line in resp.aiter_lines():
                if not line:
                    continue
                assert line.startswith("data: ")
                data = line[len("data: ") :]
                if data == "[DONE]":
                    done = True
                    continue
                chunk = orjson.loads(data)
                assert chunk["object"] == "chat.completion.chunk"
                delta = chunk["choices"][0]["delta"]
                if delta.get("content"):
                    pieces.append(delta["content"])
                usage = chunk.get("usage", usage)
        assert done
        assert len(pieces) > 3
        assert "".join(pieces) == expected
        assert usage == {"prompt_tokens": 2, "completion_tokens": 11, "total_tokens": 13}


@pytest.mark.anyio
async def test_multimodal_content_parts_and_completions() -> None:
    async with dummy_engine() as (base, _), httpx.AsyncClient(base_url=base) as client:
        parts = [{"type": "text", "text": "1"}, {"type": "image_url", "image_url": {"url": "x"}}]
        r = await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": parts}]})
        assert r.json()["choices"][0]["message"]["content"] == f"reply for 1, and parameters is {PARAMS}"

        r = await client.post("/v1/completions", json={"prompt": ["a", "b"]})
        texts = [c["text"] for c in r.json()["choices"]]
        assert texts == [f"reply for a, and parameters is {PARAMS}", f"reply for b, and parameters is {PARAMS}"]


@pytest.mark.anyio
async def test_embeddings_deterministic_and_ordered() -> None:
    async with dummy_engine("--embed-dim", "16") as (base, _), httpx.AsyncClient(base_url=base) as client:
        one = (await client.post("/v1/embeddings", json={"input": "b"})).json()
        many = (await client.post("/v1/embeddings", json={"input": ["a", "b", "c"]})).json()
        assert [d["index"] for d in many["data"]] == [0, 1, 2]
        vectors = [d["embedding"] for d in many["data"]]
        assert all(len(v) == 16 for v in vectors)
        assert vectors[1] == one["data"][0]["embedding"]
        assert vectors[0] != vectors[1]
        assert math.isclose(sum(x * x for x in vectors[2]), 1.0, rel_tol=1e-9)
        bad = await client.post("/v1/embeddings", json={"input": 3})
        assert bad.status_code == 400


@pytest.mark.anyio
async def test_bad_requests_are_400() -> None:
    async with dummy_engine() as (base, _), httpx.AsyncClient(base_url=base) as client:
        assert (await client.post("/v1/chat/completions", content=b"{nope")).status_code == 400
        assert (await client.post("/v1/chat/completions", json={"messages": []})).status_code == 400


@pytest.mark.anyio
async def test_trio_backend_and_clean_sigterm_exit() -> None:
    async with dummy_engine("--backend", "trio") as (base, proc), httpx.AsyncClient(base_url=base) as client:
        r = await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "t"}]})
        assert r.json()["choices"][0]["message"]["content"] == f"reply for t, and parameters is {PARAMS}"
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            assert await proc.wait() == 0
