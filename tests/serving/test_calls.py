"""Calling served modules: both launchers, attach forms, argument shapes, pre/post, nesting."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
import serving_targets as t

import asyncllm as al
from asyncllm.serving import ServerModule, UrlModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


async def test_serve_function_and_module(launcher: str) -> None:
    async with ServerModule(t.double, launcher=launcher) as s:
        assert s.url.startswith("http://127.0.0.1:")
        assert int(s.url.rsplit(":", 1)[1]) > 0
        assert await s(21) == 42
        assert await s("ab") == "abab"
        assert await s([1, 2]) == [1, 2, 1, 2]
    assert s.url == ""


async def test_attach_forms_do_not_deploy_or_stop(launcher: str) -> None:
    async with ServerModule(t.add, launcher=launcher, caller=al.CallerPolicy(params={"scale"})) as s:
        for client in (UrlModule(url=s.url), ServerModule(url=s.url), ServerModule(s.url),
                       UrlModule(url=s.url + "/generate")):
            assert client._attached and client._deployed
            await client.start()  # nothing to deploy
            assert await client(1, 2, scale=10) == 30
            await client.stop()  # leaves the server running
            assert await s(2, 3) == 5


async def test_argument_types_survive_the_wire(launcher: str) -> None:
    async with ServerModule(t.echo_args, launcher=launcher, caller=al.CallerPolicy(params={"a", "k"})) as s:
        out = await s(al.package(1, 2), {"__asyncllm__": "not a tag"}, al.kwargs(a=1), (1, 2), k="v")
        assert out["args"] == ["package", "dict", "kwargs", "list"]
        assert out["values"][1] == {"__asyncllm__": "not a tag"}
        assert out["kw"] == {"k": "v"}
    async with ServerModule(t.kind_of, launcher=launcher) as s:
        assert await s(al.package(1, 2)) == "package"  # a package argument reaches the target whole


async def test_pipeline_served_behaves_like_local(launcher: str) -> None:
    local = await t.upper_pipeline("abc")
    async with ServerModule(t.upper_pipeline, launcher=launcher) as s:
        assert await s("abc") == local == "ABC"


async def test_pre_and_post_run_in_server_and_keep_kwargs(launcher: str) -> None:
    async with ServerModule(t.add, pre=t.pre_split, post=t.post_with_origin, launcher=launcher,
                            caller=al.CallerPolicy(params={"scale"})) as s:
        assert await s("2+3", scale=10) == "2+3 -> 50"  # kwargs survive pre; post sees the input
    async with ServerModule(t.add, pre=t.pre_named, post=t.post_kwonly, launcher=launcher) as s:
        assert await s({"a": 1, "b": 2}) == "3 from {'a': 1, 'b': 2}"


async def test_nested_server_module_in_served_pipeline(launcher: str) -> None:
    inner = ServerModule(t.double, name="inner")
    outer = ServerModule(al.pipeline(lambda x: x + 1, inner), launcher="inprocess")
    async with outer:
        assert inner.url and outer.url != inner.url
        assert await outer(1) == 4
    assert inner.url == ""  # stopping the outer server stopped the inner one
    # The same shape with the outer server in a subprocess (it starts its own inner server).
    async with ServerModule("serving_targets:nested_pipeline", launcher=launcher) as s:
        assert await s(1) == 4


async def test_served_server_module_of_server_module() -> None:
    inner = ServerModule(t.double)
    async with ServerModule(inner) as outer:
        assert await outer(5) == 10


async def test_return_trace_and_repr_hide_key() -> None:
    s = ServerModule(t.double, security_key="sk-very-secret", return_trace=True)
    async with s:
        with al.session() as sess:
            await s(2)
        assert sess.trace == [4]
        assert "sk-very-secret" not in repr(s)
        assert "sk-very-secret" not in repr(s._spec)
        assert "sk-very-secret" not in repr(s.app)


async def test_generated_key_required() -> None:
    async with ServerModule(t.double, security_key=True) as s:
        assert s.security_key and s.security_key.startswith("sk-")
        client = UrlModule(url=s.url, security_key=s.security_key)
        assert await client(3) == 6
        assert await s(4) == 8


async def test_call_before_start_names_the_fix() -> None:
    s = ServerModule(t.double)
    with pytest.raises(al.AsyncLLMError, match="start"):
        await s(1)


def test_config_errors() -> None:
    with pytest.raises(al.ConfigError, match="not both"):
        ServerModule(t.double, url="http://127.0.0.1:1")
    with pytest.raises(al.ConfigError, match="needs something to serve"):
        ServerModule()
    with pytest.raises(al.ConfigError, match="http://"):
        UrlModule(url="127.0.0.1:80")
    with pytest.raises(al.ConfigError, match="launcher"):
        ServerModule(t.double, launcher="ray")


async def test_answers_carry_one_current_date_header(launcher: str) -> None:
    # The server makes its response headers once a second (serving/_hypercorn.py): every answer
    # still gets exactly one date header, and it is the current second.
    async with ServerModule(t.double, launcher=launcher) as s, httpx.AsyncClient(trust_env=False) as c:
        for _ in range(3):
            before = int(time.time())
            r = await c.post(f"{s.url}/generate", json={"args": [1], "kwargs": {}})
            after = time.time()
            assert r.json() == {"output": 2}
            assert len(r.headers.get_list("date")) == 1 and len(r.headers.get_list("server")) == 1
            assert before <= email.utils.parsedate_to_datetime(r.headers["date"]).timestamp() <= after


def test_cached_response_headers_are_a_new_list_each_time() -> None:
    from asyncllm.serving._hypercorn import _ServerConfig

    config = _ServerConfig(al.ServerOptions())
    first = config.response_headers("h11")
    first.append((b"x-extra", b"1"))  # hypercorn extends what it gets
    assert [k for k, _ in config.response_headers("h11")] == [b"date", b"server"]
