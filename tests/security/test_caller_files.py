"""What a caller can make a served module read from the server's disk: nothing, by any path
form, unless the server opened one folder; files a caller sends arrive as content.

The served module is a vision-capable chat module: given a local path, it reads the file and
uploads it to its provider. A secret file sits on the server's disk; every way a call can name
a path is tried, and no request that reaches the provider may carry the secret.
"""

from __future__ import annotations

import base64
import glob
import os
import tempfile
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from fakeprovider.server import FakeServer
from test_caller_policy import KEY, kwargs_tag, refused, served_chat

import asyncllm as al
from asyncllm.serving import UrlModule
from asyncllm.serving.wire import SESSION_HEADER, encode_session

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

# A 1x1 PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
                       "AAAABJRU5ErkJggg==")
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def query(text: str, files: list[str]) -> str:
    return "<lazyllm-query>" + orjson.dumps({"query": text, "files": files}).decode()


def upstream_text(fake: FakeServer) -> str:
    return "".join(orjson.dumps(r["body"]).decode() for r in fake.state.requests)


def image_parts(body: dict[str, Any]) -> list[str]:
    content = body["messages"][-1]["content"]
    return [p["image_url"]["url"] for p in content if isinstance(p, dict) and p.get("type") == "image_url"]


def uploads() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "asyncllm-upload-*")))


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.png"
    path.write_bytes(b"TOP-SECRET-" + os.urandom(8).hex().encode())
    return path


async def test_no_path_form_reads_the_servers_disk(launcher: str, fake: FakeServer, secret: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(secret)
    async with served_chat(launcher, fake, monkeypatch) as (_, c):
        ids = (await c.get("/info")).json()["module_ids"]
        generate: list[tuple[dict[str, Any], dict[str, str]]] = [
            ({"args": ["hi"], "kwargs": {"lazyllm_files": [path]}}, {}),
            ({"args": ["hi"], "kwargs": {"lazyllm_files": path}}, {}),
            ({"args": ["hi"], "kwargs": {"lazyllm_files": ["file://" + path]}}, {}),
            ({"args": [query("hi", [path])]}, {}),
            ({"args": [{"question": query("hi", [path])}]}, {}),  # anywhere inside the input
            ({"args": [kwargs_tag({"lazyllm_files": [path]})]}, {}),
            ({"args": ["hi"]}, {SESSION_HEADER: encode_session({"files": {i: [path] for i in ids}})}),
            ({"args": ["hi"]}, {SESSION_HEADER: encode_session(
                {"global_parameters": {i: {"lazyllm_files": [path]} for i in ids}})}),
            ({"args": ["hi"]}, {SESSION_HEADER: encode_session(
                {"chat_history": {i: [{"role": "user", "content": query("x", [path])}] for i in ids}})}),
        ]
        for body, headers in generate:
            refused(await c.post("/generate", json=body, headers=headers), 403, "FilePathNotAllowed")
        face = [
            [{"role": "user", "content": query("hi", [path])}],
            [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                          {"type": "image_url", "image_url": {"url": "file://" + path}}]}],
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": path}}]}],
        ]
        for messages in face:
            r = await c.post("/v1/chat/completions", json={"model": "x", "messages": messages})
            refused(r, 403, "FilePathNotAllowed")
    sent = upstream_text(fake)
    assert "TOP-SECRET" not in sent
    assert base64.b64encode(await anyio.Path(secret).read_bytes()).decode() not in sent


async def test_files_arrive_as_content(launcher: str, fake: FakeServer, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    before = uploads()
    async with served_chat(launcher, fake, monkeypatch) as (s, c):
        r = await c.post("/generate", json={"args": ["what is it?"], "kwargs": {"lazyllm_files": [PNG_URL]}})
        assert r.status_code == 200, r.text
        assert image_parts(fake.state.requests[-1]["body"]) == [PNG_URL]  # the same bytes reached the provider
        r = await c.post("/v1/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "and this?"}, {"type": "image_url", "image_url": {"url": PNG_URL}}]}]})
        assert r.status_code == 200, r.text
        assert image_parts(fake.state.requests[-1]["body"]) == [PNG_URL]
        # A client's local file travels as content: the server never sees the client's path.
        local = tmp_path / "cat.png"
        local.write_bytes(PNG)
        answer = await UrlModule(url=s.url, security_key=KEY)(query("a cat?", [str(local)]))
        assert answer == "fake reply to: a cat? [+1 media]"
        assert image_parts(fake.state.requests[-1]["body"]) == [PNG_URL]
    assert uploads() == before  # every request's folder is gone


async def test_file_limits_and_switches(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def ask(files: list[str]) -> dict[str, Any]:
        return {"args": ["hi"], "kwargs": {"lazyllm_files": files}}

    small = al.CallerPolicy(max_file_bytes=40, max_files=2)
    async with served_chat("inprocess", fake, monkeypatch, caller=small) as (_, c):
        refused(await c.post("/generate", json=ask([PNG_URL])), 413, "FileTooLarge")
        tiny = "data:text/plain;base64," + base64.b64encode(b"x").decode()
        refused(await c.post("/generate", json=ask([tiny] * 3)), 413, "TooManyFiles")
        refused(await c.post("/generate", json=ask(["data:image/png;base64,***"])), 400, "BadRequest")
        refused(await c.post("/generate", json=ask(["http://127.0.0.1:9/cat.png"])), 403, "FileURLNotAllowed")
    async with served_chat("inprocess", fake, monkeypatch, caller=al.CallerPolicy(files=False)) as (_, c):
        refused(await c.post("/generate", json=ask([PNG_URL])), 403, "FilesNotAllowed")
    async with served_chat("inprocess", fake, monkeypatch, caller=al.CallerPolicy(file_urls=True)) as (_, c):
        url = "https://images.example/cat.png"
        assert (await c.post("/generate", json=ask([url]))).status_code == 200
        assert image_parts(fake.state.requests[-1]["body"]) == [url]  # handed on, never fetched here


async def test_an_opened_folder_keeps_paths_inside_it(launcher: str, fake: FakeServer, tmp_path: Path,
                                                      secret: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "shared"
    (root / "sub").mkdir(parents=True)
    (root / "ok.png").write_bytes(PNG)
    (root / "link.png").symlink_to(secret)
    policy = al.CallerPolicy(file_root=str(root))
    async with served_chat(launcher, fake, monkeypatch, caller=policy) as (_, c):
        r = await c.post("/generate", json={"args": ["hi"], "kwargs": {"lazyllm_files": ["ok.png"]}})
        assert r.status_code == 200, r.text
        assert image_parts(fake.state.requests[-1]["body"]) == [PNG_URL]
        for escape in ("../secret.png", str(secret), "sub/../../secret.png", "link.png", "file://" + str(secret)):
            r = await c.post("/generate", json={"args": ["hi"], "kwargs": {"lazyllm_files": [escape]}})
            refused(r, 403, "FilePathNotAllowed")
    assert "TOP-SECRET" not in upstream_text(fake)


async def test_history_can_be_closed(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with served_chat("inprocess", fake, monkeypatch, caller=al.CallerPolicy(history=False)) as (_, c):
        r = await c.post("/v1/chat/completions", json={"model": "x", "messages": [
            {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]})
        refused(r, 403, "HistoryNotAllowed")
        r = await c.post("/generate", json={"args": ["hi"], "kwargs": {"llm_chat_history": [["a", "b"]]}})
        refused(r, 403, "HistoryNotAllowed")
        r = await c.post("/v1/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200


async def test_refusals_come_before_any_work(fake: FakeServer, secret: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with served_chat("inprocess", fake, monkeypatch) as (_, c):
        seen = len(fake.state.requests)
        for _ in range(3):
            r = await c.post("/generate", json={"args": ["hi"], "kwargs": {"lazyllm_files": [str(secret)]}})
            assert r.status_code == 403
        assert len(fake.state.requests) == seen
