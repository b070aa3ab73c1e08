"""Session context over the wire: parameters, history and files go, usage comes back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import serving_targets as t

import asyncllm as al
from asyncllm._context import current_session
from asyncllm.serving import ServerModule, UrlModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


async def test_session_context_reaches_served_module(launcher: str, tmp_path: Path) -> None:
    local = tmp_path / "a.txt"
    local.write_text("file content")
    async with ServerModule(t.session_reader, launcher=launcher, caller=al.CallerPolicy(params={"temperature"})) as s:
        with al.session() as sess:
            sess.global_parameters[t.session_reader.id] = {"temperature": 0.5}
            sess.chat_history[t.session_reader.id] = [["hi", "hello"]]
            sess.files[t.session_reader.id] = [str(local)]
            out = await s("q")
        files = out["kw"].pop("lazyllm_files")
        assert out["kw"] == {"temperature": 0.5, "llm_chat_history": [["hi", "hello"]]}
        # The file travelled as content: the module read it from the server's own copy, which
        # is gone once the request is done.
        assert out["contents"] == ["file content"] and files != [str(local)]
        assert not await anyio.Path(files[0]).exists()
        assert out["sid"] == sess.id
        out = await s("q")  # outside that session: nothing travels
        assert out["kw"] == {}


async def test_only_served_modules_entries_travel() -> None:
    seen: list[dict[str, Any]] = []

    async def spy(x: Any) -> str:
        sess = current_session()
        seen.append({"gp": dict(sess.global_parameters), "hist": dict(sess.chat_history)})
        return "ok"

    async with ServerModule(al.pipeline(spy, t.session_reader), caller=al.CallerPolicy(params={"top_k"})) as s:
        with al.session() as sess:
            sess.global_parameters["some-other-module"] = {"api_key": "sk-do-not-ship"}
            sess.global_parameters[t.session_reader.id] = {"top_k": 3}
            sess.chat_history["another"] = [["private", "data"]]
            out = await s("q")
        assert out["kw"] == {"top_k": 3}
        assert seen == [{"gp": {t.session_reader.id: {"top_k": 3}}, "hist": {}}]
        # An attached client learns the served ids from /info and filters the same way.
        seen.clear()
        with al.session() as sess:
            sess.global_parameters["some-other-module"] = {"api_key": "sk-do-not-ship"}
            await UrlModule(url=s.url)("q")
        assert seen == [{"gp": {}, "hist": {}}]


async def test_parameters_for_the_server_module_become_kwargs() -> None:
    async with ServerModule(t.echo_args, caller=al.CallerPolicy(params={"mode"})) as s:
        with al.session() as sess:
            sess.global_parameters[s.id] = {"mode": "fast"}
            out = await s(1)
        assert out["kw"] == {"mode": "fast"}


async def test_usage_comes_back_into_callers_session(launcher: str) -> None:
    async with ServerModule(t.usage_module, launcher=launcher) as s:
        parent = al.pipeline(s)
        s.used_by(parent.id)
        with al.session() as sess:
            assert await s("abcd") == "abcd"
            assert await s("xy") == "xy"
        assert sess.total_usage() == {"prompt_tokens": 6, "completion_tokens": 4}
        assert [m for m, _ in sess.usage_log] == [s.id, s.id]
        assert sess.usage[parent.id] == {"prompt_tokens": 6, "completion_tokens": 4}
        with al.session() as sess2:  # streamed calls bring usage back too
            async with s.stream("abc") as st:
                [c async for c in st]
        assert sess2.total_usage() == {"prompt_tokens": 3, "completion_tokens": 2}


async def test_concurrent_sessions_never_mix(launcher: str) -> None:
    async with ServerModule(t.session_reader, launcher=launcher, caller=al.CallerPolicy(params={"who"})) as s:
        results: dict[int, Any] = {}

        async def one(i: int) -> None:
            with al.session() as sess:
                sess.global_parameters[t.session_reader.id] = {"who": i}
                sess.chat_history[t.session_reader.id] = [[f"q{i}", f"a{i}"]]
                results[i] = (sess.id, await s(i))

        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(one, i)
        for i, (sid, out) in results.items():
            assert out["x"] == i
            assert out["kw"] == {"who": i, "llm_chat_history": [[f"q{i}", f"a{i}"]]}
            assert out["sid"] == sid


async def test_session_value_that_is_not_json_is_refused_before_sending() -> None:
    async with ServerModule(t.session_reader) as s:
        with al.session() as sess:
            sess.global_parameters[t.session_reader.id] = {"fn": object()}
            with pytest.raises(al.ConfigError, match="session context"):
                await s("q")


async def test_requests_without_a_session_get_distinct_ids(launcher: str) -> None:
    async with ServerModule(t.session_reader, launcher=launcher) as s:
        ids: list[str] = []

        async def one(x: str) -> None:
            ids.append((await s(x))["sid"])

        async with anyio.create_task_group() as tg:  # concurrent requests, then one more
            for x in "abc":
                tg.start_soon(one, x)
        await one("d")
    assert len(set(ids)) == 4 and all(isinstance(i, str) and len(i) == 32 for i in ids)
