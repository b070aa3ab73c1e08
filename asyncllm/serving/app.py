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

import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._concurrency import call_any
from .._context import Session, session
from .._exceptions import AsyncLLMError
from ..modules.base import ModuleBase
from ..modules.lifecycle import post_order
from ..streaming.sse import encode_sse
from ..streaming.stream import Stream
from ._asgi import EventStream, Guard, HTTPFail, json_response, read_json, run_unless_disconnected
from .invoke import Invoker
from .markers import find_routes, is_remote_method, remote_method_names
from .options import ServerOptions
from .wire import SESSION_HEADER, WireError, decode_session, error_body, from_wire, to_wire

__all__ = ["ServedApp", "create_app"]


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


class ServedApp:
    """Holds what the routes share; ``asgi`` is the guarded Starlette app."""

    def __init__(self, target: Any, *, pre: Callable[..., Any] | None = None,
                 post: Callable[..., Any] | None = None, options: ServerOptions | None = None) -> None:
        if not callable(target):
            from .._exceptions import ConfigError

            raise ConfigError(f"create_app() needs a module or a callable to serve, got {target!r}")
        self.options = options = options or ServerOptions()
        self.invoker = Invoker(target, pre, post)
        self.target = target
        self.max_body = options.max_body_bytes
        self.timeout = options.request_timeout
        self.debug = options.debug
        self.sse_keepalive = options.sse_keepalive
        self.model_name = options.model_name or self.invoker.name
        self.module_ids = [m.id for m in post_order(target)] if isinstance(target, ModuleBase) else []
        from .openai_face import openai_routes

        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/info", self.info, methods=["GET"]),
            Route("/generate", self.generate, methods=["POST"]),
            Route("/_call", self.call_method, methods=["POST"]),
            *openai_routes(self),
            *(Route(path, self._custom(fn), methods=list(verbs)) for path, verbs, fn in find_routes(target)),
        ]
        app = Starlette(routes=routes)
        app.add_exception_handler(404, self._not_found)
        app.add_exception_handler(405, self._not_allowed)
        self.asgi = Guard(app, options)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.asgi(scope, receive, send)

    # -- helpers -----------------------------------------------------------------------------

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return HTTPFail(404, "NotFound", f"no route {request.url.path!r}").response()

    async def _not_allowed(self, request: Request, exc: Exception) -> Response:
        return HTTPFail(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path!r}").response()

    def session_for(self, request: Request) -> Session:
        sess = Session()
        header = request.headers.get(SESSION_HEADER)
        if header:
            try:
                sess.update_from_wire(decode_session(header))
            except WireError as exc:
                raise HTTPFail(400, "BadSessionHeader", str(exc)) from None
        return sess

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
            body["usage"] = sess.total_usage()
        return body

    @staticmethod
    def parse_call(body: Any, *, method: bool = False) -> tuple[tuple[Any, ...], dict[str, Any]]:
        shape = '{"method": "name", "args": [...], "kwargs": {...}}' if method else '{"args": [...], "kwargs": {...}}'
        if not isinstance(body, dict):
            raise HTTPFail(400, "BadRequest", f"body must be a JSON object {shape}")
        args, kw = body.get("args", []), body.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kw, dict):
            raise HTTPFail(400, "BadRequest", f"'args' must be a list and 'kwargs' an object: {shape}")
        try:
            return tuple(from_wire(a) for a in args), {k: from_wire(v) for k, v in kw.items()}
        except WireError as exc:
            raise HTTPFail(400, "BadRequest", str(exc)) from None

    async def respond(self, request: Request, work: Callable[[], Awaitable[Any]], *,
                      watch: bool = True) -> Response:
        if watch:
            finished, result = await run_unless_disconnected(request.receive, work)
        else:  # nothing in the call can be interrupted: skip the (costly) disconnect watcher
            finished = True
            try:
                result = await work()
            except Exception as exc:
                result = exc
        if not finished:
            return Response(status_code=499)  # nobody is listening any more
        if isinstance(result, Exception):
            return self.failure(result).response()
        return json_response(result)

    # -- routes ------------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def info(self, request: Request) -> Response:
        return json_response({
            "name": self.model_name,
            "module_ids": self.module_ids,
            "remote_methods": remote_method_names(self.target),
            "routes": sorted({p for p, _, _ in find_routes(self.target)}),
        })

    async def generate(self, request: Request) -> Response | EventStream:
        try:
            args, kw = self.parse_call(await read_json(request, self.max_body))
            sess = self.session_for(request)
        except HTTPFail as fail:
            return fail.response()
        if "text/event-stream" in request.headers.get("accept", ""):
            return EventStream(lambda send: self._stream(args, kw, sess, send), self.sse_keepalive)

        async def work() -> Any:
            with session(sess):
                out = await self.timed(lambda: self.invoker(args, kw))
                return self.result_body(out, sess)

        return await self.respond(request, work, watch=self.invoker.may_suspend)

    async def _stream(self, args: tuple[Any, ...], kw: dict[str, Any], sess: Session,
                      send: Callable[[bytes], Awaitable[None]]) -> None:
        await send(encode_sse(b"{}", "start"))
        with session(sess):
            stream = Stream(lambda: self.timed(lambda: self.invoker(args, kw)), name=self.invoker.name)
            try:
                async with stream as chunks:
                    async for c in chunks:
                        event: dict[str, Any] = {"text": str(c), "module": c.module, "tag": c.tag}
                        if c.data is not None:
                            event["data"] = to_wire(c.data, "a streamed chunk's data")
                        await send(encode_sse(orjson.dumps(event), "chunk"))
                body = self.result_body(stream.result, sess)
            except Exception as exc:
                fail = self.failure(exc)
                await send(encode_sse(orjson.dumps(error_body(fail.type, fail.message, **fail.extra)), "error"))
                return
        await send(encode_sse(orjson.dumps(body), "result"))

    async def call_method(self, request: Request) -> Response:
        try:
            body = await read_json(request, self.max_body)
            args, kw = self.parse_call(body, method=True)
            name = body.get("method")
            sess = self.session_for(request)
        except HTTPFail as fail:
            return fail.response()
        if not isinstance(name, str) or not is_remote_method(self.target, name):
            allowed = ", ".join(remote_method_names(self.target)) or "none"
            return HTTPFail(404, "UnknownMethod", f"{name!r} is not a remotely callable method of "
                            f"{self.invoker.name} (allowed: {allowed}); mark it with @al.remote_method").response()
        fn = getattr(self.target, name)

        async def work() -> Any:
            with session(sess):
                out = await self.timed(lambda: call_any(fn, *args, **kw))
                return self.result_body(out, sess)

        return await self.respond(request, work)

    def _custom(self, fn: Callable[..., Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                if request.method in ("GET", "DELETE", "HEAD"):
                    kw: Any = dict(request.query_params)
                else:
                    kw = await read_json(request, self.max_body)
                    if not isinstance(kw, dict):
                        raise HTTPFail(400, "BadRequest", "body must be a JSON object of keyword arguments")
                sess = self.session_for(request)
            except HTTPFail as fail:
                return fail.response()

            async def work() -> Any:
                with session(sess):
                    out = await self.timed(lambda: call_any(fn, **kw))
                if isinstance(out, Response):
                    return out
                return to_wire(out, "a route's result")

            finished, result = await run_unless_disconnected(request.receive, work)
            if not finished:
                return Response(status_code=499)
            if isinstance(result, Response):
                return result
            if isinstance(result, Exception):
                if isinstance(result, TypeError) and not isinstance(result, WireError):
                    return HTTPFail(400, "BadRequest", f"bad arguments for {request.url.path}: {result}").response()
                return self.failure(result).response()
            return json_response(result)

        return endpoint


def create_app(m: Any, *, pre: Callable[..., Any] | None = None, post: Callable[..., Any] | None = None,
               options: ServerOptions | None = None, **overrides: Any) -> ServedApp:
    """A plain ASGI app serving ``m`` (see the module docstring for its routes).

    ``options`` (a :class:`ServerOptions`) holds every server setting; keyword ``overrides``
    change single fields of it, e.g. ``create_app(m, security_key=k, request_timeout=30)``.
    """
    return ServedApp(m, pre=pre, post=post, options=(options or ServerOptions()).replace(**overrides))
