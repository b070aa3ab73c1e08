"""A real local Ray instance pinned to loopback: tasks, async actors, a 2-replica Serve app with
streaming over the HTTP proxy on 127.0.0.1, and no socket on any other address."""

from __future__ import annotations

import os
import socket
import urllib.request
from typing import Any

import pytest
from net_check import foreign_sockets, process_tree, ray_pids, sockets_of

pytest.importorskip("ray", reason="ray not installed (pip install 'asyncllm[ray]')")

from asyncllm.launchers._ray_env import (
    LOOPBACK,
    RayHandle,
    astart_ray,
    serve_http_options,
    start_ray,
)

pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(300),
    # ray.serve's own imports trip pydantic v2 deprecation warnings (not ours to fix).
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:
        return str(r.read().decode())


def test_node_is_loopback(ray_local: RayHandle) -> None:
    assert ray_local.owned
    assert ray_local.node_ip == LOOPBACK
    assert ray_local.address.startswith(f"{LOOPBACK}:")


def test_tasks_and_async_actor(ray_local: RayHandle) -> None:
    import ray

    @ray.remote
    def double(x: int) -> int:
        return x * 2

    @ray.remote
    class AsyncWorker:
        async def add(self, x: int) -> int:
            import asyncio

            await asyncio.sleep(0.01)
            return x + 1

    assert ray.get([double.remote(i) for i in range(4)]) == [0, 2, 4, 6]
    worker = AsyncWorker.remote()  # type: ignore[attr-defined]
    assert ray.get([worker.add.remote(i) for i in range(3)]) == [1, 2, 3]


def test_serve_two_replicas_streaming_loopback_only(ray_local: RayHandle) -> None:
    from ray import serve
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    async def hello(request: Request) -> Response:
        return PlainTextResponse(f"pid={os.getpid()} proxy={os.environ.get('http_proxy', '')}")

    async def stream(request: Request) -> Response:
        async def gen() -> Any:
            for i in range(3):
                yield f"chunk{i}\n"

        return StreamingResponse(gen(), media_type="text/plain")

    asgi = Starlette(routes=[Route("/", hello), Route("/stream", stream)])

    @serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": 0})
    @serve.ingress(asgi)
    class App:
        pass

    from ray.serve.context import _get_global_client

    # Serve may already run (the launcher tests share this Ray instance): then use its proxy.
    client = _get_global_client(raise_if_no_controller_running=False)
    if client is None:
        serve.start(http_options=serve_http_options(_free_port()))
        client = _get_global_client()
    port = int(client.http_config.port)
    serve.run(App.bind(), name="probe", route_prefix="/probe")  # type: ignore[attr-defined]
    try:
        seen = {_get(f"http://{LOOPBACK}:{port}/probe/") for _ in range(20)}
        # Both replicas answer; the dead loopback proxy given to Ray's daemons is not theirs.
        assert len({s.split()[0] for s in seen}) == 2, seen
        assert all(s.endswith("proxy=") for s in seen), seen
        assert _get(f"http://{LOOPBACK}:{port}/probe/stream") == "chunk0\nchunk1\nchunk2\n"

        pids = process_tree(ray_pids() | {os.getpid()})
        listening = [s for s in sockets_of(pids) if s.state == "LISTEN"]
        assert any(s.local[1] == port for s in listening), "the Serve proxy was not seen"
        assert len(listening) >= 8, listening  # gcs, raylet, agents, controller, proxy, replicas
        assert foreign_sockets(pids) == []
    finally:
        serve.delete("probe")
        serve.shutdown()


def test_second_start_returns_unowned_handle(ray_local: RayHandle) -> None:
    again = start_ray()
    assert not again.owned
    assert again.address == ray_local.address


@pytest.mark.anyio
async def test_async_start_is_thread_offloaded(ray_local: RayHandle) -> None:
    handle = await astart_ray()
    assert not handle.owned and handle.node_ip == LOOPBACK


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:6379", True),
        ("localhost:6379", True),
        ("[::1]:6379", True),
        ("ray://127.0.0.1:10001", True),
        ("10.0.0.5:6379", False),
        ("head.cluster:6379", False),
    ],
)
def test_loopback_address_detection(address: str, loopback: bool) -> None:
    from asyncllm.launchers._ray_env import _is_loopback_address

    assert _is_loopback_address(address) is loopback
