"""The app embedded in another Starlette app, remote methods, and custom routes."""

from __future__ import annotations

import anyio
import httpx
import pytest
import serving_targets as t
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import asyncllm as al
from asyncllm.serving import ServerModule, UrlModule, create_app, remote_method, route, serve

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


async def test_app_mounted_under_prefix_in_users_starlette_app() -> None:
    async def own(request: Request) -> JSONResponse:
        # A handler of the host app calling a module directly: no blocking, no shared state.
        return JSONResponse({"direct": await t.upper_pipeline(request.query_params["q"])})

    served = create_app(t.upper_pipeline, security_key="sk-embed")
    host = Starlette(routes=[Route("/own", own), Mount("/llm", app=served)])
    async with anyio.create_task_group() as tg:
        base = await tg.start(serve, host)
        client = UrlModule(url=f"{base}/llm", security_key="sk-embed")
        assert await client("ab") == "AB"
        assert [str(c) async for c in client.stream("xy")] == ["x", "y"]
        async with httpx.AsyncClient(base_url=base) as c:
            assert (await c.get("/own", params={"q": "hi"})).json() == {"direct": "HI"}
            assert (await c.get("/llm/health")).json() == {"status": "ok"}
            assert (await c.get("/llm/info")).status_code == 401  # the key guards the mounted app too
        results = await al._concurrency.gather([lambda i=i: client(f"r{i}") for i in range(20)])
        assert results == [f"R{i}" for i in range(20)]
        tg.cancel_scope.cancel()


async def test_server_module_app_property_runs_under_any_asgi_server() -> None:
    s = ServerModule(t.double)
    async with anyio.create_task_group() as tg:
        base = await tg.start(serve, s.app)
        assert await UrlModule(url=base)(4) == 8
        tg.cancel_scope.cancel()
    with pytest.raises(al.ConfigError, match="attached"):
        _ = ServerModule(url="http://127.0.0.1:9").app


async def test_remote_methods_only_marked_ones(launcher: str) -> None:
    async with ServerModule(t.counter, launcher=launcher, security_key="sk-call") as s:
        n0 = await s._call("bump", by=0)  # the key travels with _call (LazyLLM forgot it)
        assert await s._call("bump") == n0 + 1
        assert await s._call("bump", by=5) == n0 + 6
        assert await s._call("mul", 6, 7) == 42
        assert await s(1) == n0 + 7  # the object's state changed on the server
        for name in ("secret", "__init__", "__dict__", "_lock", "n"):
            with pytest.raises(al.NotFoundError, match="remote_method"):
                await s._call(name)
        with pytest.raises(al.ModuleExecutionError):
            await s._call("mul", 1)  # missing argument: the server-side TypeError comes back typed


async def test_custom_routes(launcher: str) -> None:
    async with ServerModule(t.counter, launcher=launcher, security_key="sk-r") as s, \
            httpx.AsyncClient(base_url=s.url, headers={"authorization": "Bearer sk-r"}) as c:
        assert (await c.post("/reset", json={"to": 9})).json() == {"n": 9}
        assert (await c.get("/count")).json() == {"n": 9}
        assert (await c.get("/hidden")).json() == "base"
        assert (await c.post("/reset", json={"nope": 1})).status_code == 400
        assert (await c.get("/count", headers={"authorization": "Bearer bad"})).status_code == 401
    async with ServerModule(t.sub_counter, launcher=launcher) as s, httpx.AsyncClient(base_url=s.url) as c:
        assert (await c.get("/count")).json() == {"n": 0}  # inherited route
        assert (await c.get("/hidden")).status_code == 404  # overridden without @route


def test_marker_errors() -> None:
    def __call__(self: object) -> int:
        return 1

    with pytest.raises(al.ConfigError, match="dunder"):
        remote_method(__call__)
    with pytest.raises(al.ConfigError, match="built-in"):
        route("/generate")
    with pytest.raises(al.ConfigError, match="start with"):
        route("count")
