"""The ASGI app that serves one module: ``create_app(m)``.

Routes: ``GET /health`` (open), ``GET /info``, ``POST /generate`` (JSON or SSE),
``POST /_call`` (methods marked ``@remote_method`` only), the OpenAI face under ``/v1``
(see openai_face.py), and the served class's ``@route`` methods. Every request runs in its
own :class:`~asyncllm.Session`, rebuilt from the request's session header, so concurrent
requests never share state. A client that disconnects cancels its request's work.

The app is plain ASGI: mount it inside a Starlette/FastAPI app or run it under any ASGI
server. It does not start the served module; the ServerModule (or the subprocess entry
point) does that, and an embedding application should ``await m.start()`` itself.
"""

from __future__ import annotations

import inspect
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._concurrency import call_any
from .._context import Session, session
from .._exceptions import AsyncLLMError, ConfigError
from .._importpath import locate
from ..modules.base import ModuleBase
from ..modules.lifecycle import post_order
from ..streaming.sse import encode_sse
from ..streaming.stream import Stream
from ._asgi import (
    EventStream,
    Guard,
    HTTPFail,
    accept,
    json_response,
    read_json,
    run_unless_disconnected,
    session_header,
)
from ._gate import Gate, declared_params
from .invoke import Invoker
from .markers import find_routes, is_remote_method, remote_method_names
from .options import ServerOptions
from .wire import WireError, dumps, error_body, to_wire

__all__ = ["ServedApp", "create_app"]

_T = TypeVar("_T")

_GENERATE_KEYS = frozenset({"args", "kwargs"})
_CALL_KEYS = frozenset({"method", "args", "kwargs"})


def _scrub_paths(text: str) -> str:
    """Drop server file-system locations from an error message (debug off)."""
    roots = {p for p in (*sys.path, sys.prefix, os.getcwd()) if p and len(p) > 1 and os.path.isabs(p)}
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace(root, "<server>")
    return text


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while exc.__cause__ is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__
    return exc


def _takes_var_kw(fn: Callable[..., Any]) -> bool:
    try:
        return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True


def _served_name(target: Any, fallback: str) -> str:
    """The name the OpenAI face reports: the module's own name, the model an LLM answers with,
    or the name it is importable by (``upper_pipeline`` rather than ``Pipeline``)."""
    if isinstance(target, ModuleBase) and target.name:
        return target.name
    reported = getattr(target, "reported_model", None)
    if isinstance(reported, str) and reported:
        return reported
    try:
        return locate(target).rpartition(":")[2].rpartition(".")[2]
    except ConfigError:
        return fallback


class ServedApp:
    """Holds what the routes share; ``asgi`` is the guarded Starlette app."""

    def __init__(self, target: Any, *, pre: Callable[..., Any] | None = None,
                 post: Callable[..., Any] | None = None, options: ServerOptions | None = None) -> None:
        if not callable(target):
            raise ConfigError(f"create_app() needs a module or a callable to serve, got {target!r}")
        self.options = options = options or ServerOptions()
        self.invoker = Invoker(target, pre, post)
        self.target = target
        self.max_body = options.max_body_bytes
        self.timeout = options.request_timeout
        self.debug = options.debug
        self.sse_keepalive = options.sse_keepalive
        self.model_name = options.model_name or _served_name(target, self.invoker.name)
        self.module_ids = [m.id for m in post_order(target)] if isinstance(target, ModuleBase) else []
        self._module_ids = frozenset(self.module_ids)
        from .openai_face import openai_routes

        self.metrics = None
        routes = [  # the router tries them in order: the busiest first
            Route("/generate", self.generate, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/info", self.info, methods=["GET"]),
            Route("/_call", self.call_method, methods=["POST"]),
            *openai_routes(self),
            *(Route(path, self._custom(fn), methods=list(verbs)) for path, verbs, fn in find_routes(target)),
        ]
        if options.metrics:
            from ._metrics import ServerMetrics

            self.metrics = ServerMetrics(r.path for r in routes)
            routes.append(Route("/metrics", self.metrics_route, methods=["GET"]))
            self.metrics.routes |= {"/metrics"}
        app = Starlette(routes=routes)
        app.add_exception_handler(404, self._not_found)
        app.add_exception_handler(405, self._not_allowed)
        app.add_exception_handler(Exception, self._crashed)
        self.asgi = self.guard = Guard(app, options, self.metrics)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.asgi(scope, receive, send)

    # -- helpers -----------------------------------------------------------------------------

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return HTTPFail(404, "NotFound", f"no route {request.url.path!r}").response()

    async def _crashed(self, request: Request, exc: Exception) -> Response:
        # The server's own bug, not the module's: a typed 500 that says nothing about it.
        return HTTPFail(500, "InternalError", "the server failed to handle this request").response()

    async def _not_allowed(self, request: Request, exc: Exception) -> Response:
        return HTTPFail(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path!r}").response()

    def gate(self) -> Gate:
        """A new request's admission under the server's caller policy (see _gate.py)."""
        return Gate(self.options.caller, self._module_ids)

    async def timed(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        if self.timeout is None:
            return await fn()
        try:
            with anyio.fail_after(self.timeout):
                return await fn()
        except TimeoutError:
            raise HTTPFail(504, "Timeout", f"the served module did not finish within {self.timeout:g}s "
                           "(request_timeout)") from None

    def failure(self, exc: BaseException) -> HTTPFail:
        """The HTTP error for an exception raised while serving a request."""
        if isinstance(exc, HTTPFail):
            return exc
        if isinstance(exc, WireError):
            return HTTPFail(500, "OutputNotSerializable", str(exc), module=self.invoker.name)
        cause = _root_cause(exc)
        message = str(exc)
        module = getattr(exc, "module", None) or self.invoker.name
        extra: dict[str, Any] = {"error_class": type(exc).__name__}
        if self.debug:
            extra["traceback"] = "".join(traceback.format_exception(exc))
        else:
            message = _scrub_paths(message)
        if not isinstance(exc, AsyncLLMError):
            message = f"{type(exc).__name__}: {message}"
        return HTTPFail(500, type(cause).__name__, message, module=module, **extra)

    def result_body(self, output: Any, sess: Session) -> dict[str, Any]:
        body: dict[str, Any] = {"output": to_wire(output, "the served module's output")}
        if sess.usage_log:
            body["usage"] = self.usage(sess)
        return body

    def usage(self, sess: Session) -> dict[str, int]:
        """The request's token usage (counted in the metrics when they are on)."""
        total = sess.total_usage()
        if self.metrics is not None:
            self.metrics.usage(total)
        return total

    @staticmethod
    def parse_call(body: Any, gate: Gate, *, method: bool = False,
                   declared: frozenset[str] = frozenset()) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's arguments from a ``/generate`` or ``/_call`` body, admitted by ``gate``."""
        allowed = _CALL_KEYS if method else _GENERATE_KEYS
        shape = '{"method": "name", "args": [...], "kwargs": {...}}' if method else '{"args": [...], "kwargs": {...}}'
        if not isinstance(body, dict):
            raise HTTPFail(400, "BadRequest", f"body must be a JSON object {shape}")
        if not allowed.issuperset(body):
            unknown = sorted(set(body) - allowed)
            raise HTTPFail(400, "BadRequest", f"unknown key(s) {', '.join(map(repr, unknown))} in the body: "
                           f"it takes {', '.join(sorted(allowed))}, as {shape}")
        args, kw = body.get("args", []), body.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kw, dict):
            raise HTTPFail(400, "BadRequest", f"'args' must be a list and 'kwargs' an object: {shape}")
        return tuple(gate.decode(a) for a in args), gate.kwargs({k: gate.decode(v) for k, v in kw.items()}, declared)

    async def respond(self, request: Request, work: Callable[[], Awaitable[Any]], gate: Gate, *,
                      watch: bool = True) -> Response:
        """Run ``work`` (cancelled if the client leaves, unless ``watch`` is off) and answer with
        its JSON result or its error; the request's gate is closed whatever happens."""
        try:
            if watch:
                finished, result = await run_unless_disconnected(request.receive, work)
            else:  # nothing in the call can be interrupted: skip the (costly) disconnect watcher
                finished = True
                try:
                    result = await work()
                except Exception as exc:
                    result = exc
        finally:
            await gate.aclose()
        if not finished:
            return Response(status_code=499)  # nobody is listening any more
        if isinstance(result, Response):
            return result
        if isinstance(result, Exception):
            return self.failure(result).response()
        try:  # encode before the status line goes out: an output JSON cannot hold is a typed 500
            body = dumps(result)
        except WireError as exc:
            return self.failure(exc).response()
        return Response(body, media_type="application/json")

    # -- routes ------------------------------------------------------------------------------

    async def metrics_route(self, request: Request) -> Response:
        assert self.metrics is not None
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def info(self, request: Request) -> Response:
        return json_response({
            "name": self.model_name,
            "module_ids": self.module_ids,
            "remote_methods": remote_method_names(self.target),
            "routes": sorted({p for p, _, _ in find_routes(self.target)}),
        })

    async def admit(self, request: Request, gate: Gate,
                    parse: Callable[[], Awaitable[_T]]) -> tuple[_T, Session] | Response:
        """One request's admission: ``parse()`` reads it and checks it against the caller
        policy, the session header is decoded (and checked), then the gate takes its place in
        the concurrency limit. A refusal comes back as the response, with the gate released."""
        try:
            parsed = await parse()
            sess = gate.session(session_header(request))
            await gate.open()
        except HTTPFail as fail:
            await gate.aclose()
            return fail.response()
        return parsed, sess

    async def generate(self, request: Request) -> Response | EventStream:
        gate = self.gate()

        async def parse() -> tuple[tuple[Any, ...], dict[str, Any]]:
            return self.parse_call(await read_json(request, self.max_body), gate)

        admitted = await self.admit(request, gate, parse)
        if isinstance(admitted, Response):
            return admitted
        (args, kw), sess = admitted
        if "text/event-stream" in (accept(request) or ""):
            return EventStream(lambda send: self._stream(args, kw, sess, gate, send), self.sse_keepalive)

        async def work() -> Any:
            with session(sess):
                out = await self.timed(lambda: self.invoker(args, kw))
                return self.result_body(out, sess)

        return await self.respond(request, work, gate, watch=self.invoker.may_suspend)

    async def _stream(self, args: tuple[Any, ...], kw: dict[str, Any], sess: Session, gate: Gate,
                      send: Callable[[bytes], Awaitable[None]]) -> None:
        try:
            await send(encode_sse(b"{}", "start"))
            with session(sess):
                stream = Stream(lambda: self.timed(lambda: self.invoker(args, kw)), name=self.invoker.name)
                try:
                    async with stream as chunks:
                        async for c in chunks:
                            event: dict[str, Any] = {"text": str(c), "module": c.module, "tag": c.tag}
                            if c.data is not None:
                                event["data"] = to_wire(c.data, "a streamed chunk's data")
                            await send(encode_sse(dumps(event), "chunk"))
                    result = dumps(self.result_body(stream.result, sess))
                except Exception as exc:
                    fail = self.failure(exc)
                    await send(encode_sse(orjson.dumps(error_body(fail.type, fail.message, **fail.extra)), "error"))
                    return
            await send(encode_sse(result, "result"))
        finally:
            await gate.aclose()

    async def call_method(self, request: Request) -> Response:
        gate = self.gate()

        async def parse() -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
            body = await read_json(request, self.max_body)
            name = body.get("method") if isinstance(body, dict) else None
            if not isinstance(name, str) or not is_remote_method(self.target, name):
                allowed = ", ".join(remote_method_names(self.target)) or "none"
                raise HTTPFail(404, "UnknownMethod", f"{name!r} is not a remotely callable method of "
                               f"{self.invoker.name} (allowed: {allowed}); mark it with @al.remote_method")
            fn = getattr(self.target, name)
            # Marking a method opened the parameters its signature names; the rest is the policy's.
            return (fn, *self.parse_call(body, gate, method=True, declared=declared_params(fn)))

        admitted = await self.admit(request, gate, parse)
        if isinstance(admitted, Response):
            return admitted
        (fn, args, kw), sess = admitted

        async def work() -> Any:
            with session(sess):
                out = await self.timed(lambda: call_any(fn, *args, **kw))
                return self.result_body(out, sess)

        return await self.respond(request, work, gate)

    def _custom(self, fn: Callable[..., Any]) -> Callable[[Request], Awaitable[Response]]:
        declared = declared_params(fn)
        open_ended = _takes_var_kw(fn)

        async def endpoint(request: Request) -> Response:
            gate = self.gate()

            async def parse() -> dict[str, Any]:
                if request.method in ("GET", "DELETE", "HEAD"):
                    raw: Any = dict(request.query_params)
                else:
                    raw = await read_json(request, self.max_body)
                    if not isinstance(raw, dict):
                        raise HTTPFail(400, "BadRequest", "body must be a JSON object of keyword arguments")
                if not open_ended and (unknown := sorted(set(raw) - declared)):
                    raise HTTPFail(400, "BadRequest", f"{request.url.path} takes no parameter(s) "
                                   f"{', '.join(map(repr, unknown))}; it takes {', '.join(sorted(declared)) or 'none'}")
                return gate.kwargs({k: gate.decode(v) for k, v in raw.items()}, declared, "route parameter")

            admitted = await self.admit(request, gate, parse)
            if isinstance(admitted, Response):
                return admitted
            kw, sess = admitted

            async def work() -> Any:
                with session(sess):
                    try:
                        out = await self.timed(lambda: call_any(fn, **kw))
                    except TypeError as exc:
                        if isinstance(exc, WireError):
                            raise
                        raise HTTPFail(400, "BadRequest", f"bad arguments for {request.url.path}: {exc}") from None
                if isinstance(out, Response):
                    return out
                return to_wire(out, "a route's result")

            return await self.respond(request, work, gate)

        return endpoint


def create_app(m: Any, *, pre: Callable[..., Any] | None = None, post: Callable[..., Any] | None = None,
               options: ServerOptions | None = None, **overrides: Any) -> ServedApp:
    """A plain ASGI app serving ``m`` (see the module docstring for its routes).

    ``options`` (a :class:`ServerOptions`) holds every server setting; keyword ``overrides``
    change single fields of it, e.g. ``create_app(m, security_key=k, request_timeout=30)``.
    """
    return ServedApp(m, pre=pre, post=post, options=(options or ServerOptions()).replace(**overrides))
