"""What the engine scripts we ship (the dummy engine, the embedding engine) share to serve.

Each engine is a subprocess started as ``python -m asyncllm.deploy._<name>_server``: it binds
its socket first (port 0: the OS picks, and early connections wait in the backlog instead of
being refused), tells the parent the port (a stdout line and, when asked, a port file written
atomically), then serves its ASGI app with hypercorn on asyncio or trio until SIGINT/SIGTERM.
:class:`EngineApp` is what their apps answer alike (``/v1/models``, a request's JSON body, the
embeddings answer) and how they are run (:meth:`EngineApp.run`: bind, announce, serve while the
engine's :meth:`~EngineApp.load` step runs); :func:`engine_parser` the options every script takes.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import traceback
from collections.abc import Iterable
from typing import Any

import anyio
import orjson
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._process import write_atomic
from ..serving._hypercorn import bind_socket, serve_app

# What the engine scripts use; the rest of this file is the plumbing behind it.
__all__ = ["EngineApp", "engine_parser", "error_response", "json_response"]

#: the stdout line an engine prints once it listens: ``ASYNCLLM_READY port=<port>``
READY_PREFIX = "ASYNCLLM_READY"


def add_serve_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every engine script takes: where to listen, where to announce, which backend."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS choose; see --port-file")
    parser.add_argument("--port-file", default=None, help="write the bound port into this file")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    return parser


def engine_parser(doc: str | None, model_name: str) -> argparse.ArgumentParser:
    """An engine script's parser: the serving options and ``--model-name`` (the id ``/v1/models``
    reports), described by the first line of the script's docstring ``doc``."""
    parser = add_serve_arguments(argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None))
    parser.add_argument("--model-name", default=model_name, help="id reported by /v1/models")
    return parser


def announce_port(port: int, port_file: str | None) -> None:
    """Tell the parent which port we got: a stdout line and, if asked, a port file."""
    if port_file:
        write_atomic(port_file, f"{port}\n".encode("ascii"))
    print(f"{READY_PREFIX} port={port}", flush=True)


def bind_announced(args: argparse.Namespace) -> socket.socket:
    """The listening socket of ``--host``/``--port``, its port announced (before serving: early
    connections wait in the backlog)."""
    sock = bind_socket(args.host, args.port)
    announce_port(sock.getsockname()[1], args.port_file)
    return sock


def json_response(data: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


def error_response(message: str, status_code: int = 400) -> Response:
    """An error in OpenAI's shape (what the clients of an OpenAI-compatible engine parse)."""
    return json_response({"error": {"message": message, "type": "invalid_request_error", "code": status_code}},
                         status_code)


def model_list(model_name: str) -> Response:
    """``GET /v1/models``: the one model the engine serves."""
    return json_response({
        "object": "list",
        "data": [{"id": model_name, "object": "model", "created": 0, "owned_by": "asyncllm"}],
    })


async def json_object(request: Any) -> dict[str, Any] | str:
    """A request's JSON object body, or what is wrong with it (the engine answers that as a 400)."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return "request body is not valid JSON"
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    return body


def input_texts(body: dict[str, Any]) -> list[str] | str:
    """The texts of an OpenAI embeddings request (``input``: a string or a non-empty list of
    strings), or what is wrong with it (token-id inputs are not supported here)."""
    raw = body.get("input")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
        return list(raw)
    return "'input' must be a string or a non-empty list of strings (token ids are not supported)"


def hypercorn_config(sock: socket.socket) -> Config:
    """hypercorn's settings for an engine on ``sock`` (handed over: hypercorn owns and closes it)."""
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = "-"
    config.graceful_timeout = 2.0
    return config


async def until_signalled() -> None:
    """Return at the first SIGINT or SIGTERM."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


class EngineApp:
    """The ASGI app of an engine script, with what every engine answers alike: ``GET /health``
    (:meth:`health`, each engine's own), ``GET /v1/models``, a request's JSON body or the 400 (503
    while the engine is not :attr:`ready`), and the OpenAI embeddings answer."""

    #: False while the engine cannot answer yet: an engine with a :meth:`load` step starts False
    #: (the embedding engine loads its model after binding); :meth:`serve` sets it once loaded
    ready = True

    def __init__(self, model_name: str, routes: Iterable[Route]) -> None:
        self.model_name = model_name
        self.app = Starlette(routes=[
            Route("/health", self.health, methods=["GET"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
            *routes,
        ])

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def list_models(self, request: Request) -> Response:
        return model_list(self.model_name)

    async def body(self, request: Request) -> dict[str, Any] | Response:
        """The request's JSON object, or the error response to answer instead."""
        if not self.ready:
            return error_response("model is still loading", 503)
        body = await json_object(request)
        return error_response(body) if isinstance(body, str) else body

    async def embeddings_request(self, request: Request) -> tuple[dict[str, Any], list[str]] | Response:
        """An OpenAI embeddings request's body and its texts (:func:`input_texts`), or the error
        response to answer instead."""
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        texts = input_texts(body)
        return error_response(texts) if isinstance(texts, str) else (body, texts)

    def model_of(self, body: dict[str, Any]) -> str:
        """The model an answer names: the request's, else the one served."""
        return str(body.get("model") or self.model_name)

    def embeddings_answer(self, body: dict[str, Any], vectors: Iterable[Any], tokens: int) -> Response:
        """OpenAI's embeddings answer: ``vectors`` in input order (lists of floats, or base64 text)."""
        return json_response({
            "object": "list",
            "model": self.model_of(body),
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    async def load(self) -> None:
        """What the engine does before it can answer (the embedding engine loads its model), run
        while the server already listens: :attr:`ready` turns True when it returns, and the
        process exits with code 1 when it raises. Nothing by default.

        Blocking work goes to a worker thread with ``abandon_on_cancel=True``: a stop while it
        runs then ends the process at once (:meth:`run`) instead of waiting for a load that
        nothing can interrupt."""

    async def serve(self, sock: socket.socket) -> int:
        """Serve on the bound ``sock`` while :meth:`load` runs beside it, until SIGINT/SIGTERM.

        Returns the exit code: 0 after a signal, 1 when :meth:`load` failed (its traceback on
        stderr; the process then exits, so the parent sees a dead engine rather than a
        ``/health`` that never turns 200).
        """
        stop = anyio.Event()
        exit_code = 0

        async def on_signal() -> None:
            await until_signalled()
            stop.set()

        async def load() -> None:
            nonlocal exit_code
            try:
                await self.load()
            except Exception:
                traceback.print_exc()
                exit_code = 1
                stop.set()
            else:
                self.ready = True

        async with anyio.create_task_group() as tg:
            tg.start_soon(on_signal)
            tg.start_soon(load)
            await serve_app(self.app, hypercorn_config(sock), stop.wait)
            tg.cancel_scope.cancel()
        return exit_code

    def run(self, args: argparse.Namespace) -> int:
        """Bind and announce ``--host``/``--port`` (:func:`bind_announced`), then :meth:`serve` on
        ``--backend``; the exit code."""
        code: int = anyio.run(self.serve, bind_announced(args), backend=args.backend)
        if not self.ready:
            # Stopped mid-load (or the load failed, its traceback printed): a load's worker thread
            # may still run, and the interpreter would wait for it at exit. The server is down
            # and nothing else is pending: end here.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
