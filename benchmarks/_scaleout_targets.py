"""Served modules of benchmarks/scaleout.py, importable by path so Ray replicas import them."""

from __future__ import annotations

import time
from typing import Any

import anyio


async def wait20(x: Any) -> Any:
    """I/O-bound step: 20 ms of waiting (a call to some backend)."""
    await anyio.sleep(0.02)
    return x


async def echo(x: Any) -> Any:
    """``wait20`` without the wait: the served app's own cost on the same (async) path."""
    return x


def spin5(x: Any) -> Any:
    """CPU-bound step: 5 ms of pure-Python work on the serving loop."""
    end = time.perf_counter() + 0.005
    n = 0
    while time.perf_counter() < end:
        n += 1
    return x


def bare_ray_app() -> Any:
    """The Ray floor: a bare Starlette echo deployment speaking just enough of the wire format
    (``POST /generate`` → ``{"output": first arg}``), built in the replica."""
    from ray import serve

    def build() -> Any:
        import orjson
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def generate(request: Request) -> Response:
            body = orjson.loads(await request.body())
            return Response(orjson.dumps({"output": body["args"][0]}), media_type="application/json")

        return Starlette(routes=[Route("/generate", generate, methods=["POST"])])

    @serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=32,
                      logging_config={"enable_access_log": False})
    @serve.ingress(build)
    class Bare:
        pass

    return Bare.bind()
