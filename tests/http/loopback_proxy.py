"""A forwarding and CONNECT HTTP/1.1 proxy on 127.0.0.1 for the tests; it counts what goes through it.

``async with running_proxy() as proxy:`` gives its URL (``http://127.0.0.1:<port>``; with
``tls=`` a server SSL context, an ``https://`` proxy that clients reach over TLS) with
``.state``: every request it received (``state.requests``: method, target, whether it carried
the right credentials), its CONNECT tunnels, and switches to make it demand Basic credentials
(``auth="user:password"`` → 407 without them) or refuse everything with a status (``refuse=403``).

It forwards only to loopback: a target host other than 127.0.0.1, ::1, localhost or a name in
``aliases`` (each mapped to 127.0.0.1) is answered 502 without connecting anywhere, so a test can
never reach past the machine. h11 parses both sides; bodies stream through as they arrive (SSE).
Runs on asyncio and trio.
"""

from __future__ import annotations

import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anyio
import anyio.abc
import h11
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSListener

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass
class ProxyState:
    auth: str | None = None  # "user:password" the proxy demands, or None
    refuse: int | None = None  # answer every request with this status
    aliases: set[str] = field(default_factory=set)  # more host names that mean 127.0.0.1
    requests: list[tuple[str, str, bool]] = field(default_factory=list)  # (method, target, authorised)
    tunnels: int = 0

    def targets(self, method: str | None = None) -> list[str]:
        return [t for m, t, _ in self.requests if method is None or m == method]


class RunningProxy(str):
    """The proxy's URL, carrying its :class:`ProxyState`."""

    state: ProxyState
    port: int

    def with_auth(self, userinfo: str) -> str:
        return self.replace("://", f"://{userinfo}@", 1)


@asynccontextmanager
async def running_proxy(*, auth: str | None = None, refuse: int | None = None,
                        aliases: set[str] | None = None, tls: ssl.SSLContext | None = None,
                        ) -> AsyncIterator[RunningProxy]:
    state = ProxyState(auth=auth, refuse=refuse, aliases=set(aliases or ()))
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = tcp.extra(SocketAttribute.local_port)
    # A failed handshake (a client that does not trust the proxy) ends that connection only.
    listener = tcp if tls is None else TLSListener(tcp, tls, standard_compatible=False)
    url = RunningProxy(f"{'https' if tls else 'http'}://127.0.0.1:{port}")
    url.state, url.port = state, port
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, lambda s: _serve_client(s, state))
        try:
            yield url
        finally:
            tg.cancel_scope.cancel()
    await listener.aclose()


async def _recv(stream: anyio.abc.ByteStream) -> bytes:
    try:
        return await stream.receive(65536)
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        return b""


async def _next(h: h11.Connection, stream: anyio.abc.ByteStream) -> object:
    while True:
        event = h.next_event()
        if event is not h11.NEED_DATA:
            return event
        h.receive_data(await _recv(stream))


async def _answer(h: h11.Connection, client: anyio.abc.ByteStream, status: int, extra: list[tuple[str, str]],
                  text: str) -> None:
    body = text.encode()
    headers = [("content-length", str(len(body))), ("content-type", "text/plain"), *extra]
    await client.send(h.send(h11.Response(status_code=status, headers=headers)) or b"")
    await client.send((h.send(h11.Data(data=body)) or b"") + (h.send(h11.EndOfMessage()) or b""))


def _authorised(state: ProxyState, request: h11.Request) -> bool:
    if state.auth is None:
        return True
    want = "Basic " + base64.b64encode(state.auth.encode()).decode()
    return any(k == b"proxy-authorization" and v.decode() == want for k, v in request.headers)


def _upstream_host(state: ProxyState, host: str) -> str | None:
    host = host.strip("[]").lower()
    if host in _LOOPBACK or host in state.aliases:
        return "::1" if host == "::1" else "127.0.0.1"
    return None


_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError, h11.ProtocolError)


async def _serve_client(client: anyio.abc.ByteStream, state: ProxyState) -> None:
    with contextlib.suppress(*_GONE):  # a client or target went away mid-exchange: so does this connection
        await _serve(client, state)


async def _serve(client: anyio.abc.ByteStream, state: ProxyState) -> None:
    async with client:
        h = h11.Connection(h11.SERVER)
        upstream: tuple[str, anyio.abc.SocketStream, h11.Connection] | None = None
        try:
            while True:
                request = await _next(h, client)
                if not isinstance(request, h11.Request):
                    return
                body = bytearray()
                while not isinstance(ev := await _next(h, client), h11.EndOfMessage):
                    if isinstance(ev, h11.Data):
                        body += ev.data
                    else:
                        return
                method, target = request.method.decode(), request.target.decode()
                ok = _authorised(state, request)
                state.requests.append((method, target, ok))
                if not ok:
                    await _answer(h, client, 407, [("proxy-authenticate", 'Basic realm="test"')],
                                  "proxy credentials needed")
                elif state.refuse is not None:
                    await _answer(h, client, state.refuse, [], "refused by the proxy's policy")
                elif method == "CONNECT":
                    await _tunnel(h, client, state, target)
                    return
                else:
                    upstream = await _forward(h, client, state, request, bytes(body), upstream)
                    if upstream is None:
                        return
                if h.our_state is h11.MUST_CLOSE or h.their_state is h11.MUST_CLOSE:
                    return
                h.start_next_cycle()
        finally:
            if upstream is not None:
                await upstream[1].aclose()


async def _tunnel(h: h11.Connection, client: anyio.abc.ByteStream, state: ProxyState, target: str) -> None:
    host, _, port = target.rpartition(":")
    real = _upstream_host(state, host)
    if real is None or not port.isdigit():
        await _answer(h, client, 502, [], f"this test proxy reaches loopback only, not {target}")
        return
    try:
        remote = await anyio.connect_tcp(real, int(port))
    except OSError:
        await _answer(h, client, 502, [], f"cannot reach {target}")
        return
    state.tunnels += 1
    await client.send(h.send(h11.Response(status_code=200, headers=[])) or b"")
    leftover, _ = h.trailing_data
    async with remote, anyio.create_task_group() as tg:
        if leftover:
            await remote.send(leftover)

        async def pipe(src: anyio.abc.ByteStream, dst: anyio.abc.ByteStream) -> None:
            while data := await _recv(src):
                try:
                    await dst.send(data)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    break
            tg.cancel_scope.cancel()

        tg.start_soon(pipe, client, remote)
        tg.start_soon(pipe, remote, client)


async def _forward(h: h11.Connection, client: anyio.abc.ByteStream, state: ProxyState, request: h11.Request,
                   body: bytes, upstream: tuple[str, anyio.abc.SocketStream, h11.Connection] | None,
                   ) -> tuple[str, anyio.abc.SocketStream, h11.Connection] | None:
    """Send one absolute-form request on to its target and relay the answer; the upstream
    connection is kept for the next request to the same place (None: close the client)."""
    u = urlsplit(request.target.decode())
    real = _upstream_host(state, u.hostname or "")
    if u.scheme != "http" or real is None:
        await _answer(h, client, 502, [], f"this test proxy reaches loopback http only, not {u.geturl()}")
        return upstream
    where = f"{real}:{u.port or 80}"
    if upstream is not None and (upstream[0] != where or upstream[2].our_state is not h11.IDLE):
        await upstream[1].aclose()
        upstream = None
    if upstream is None:
        try:
            upstream = (where, await anyio.connect_tcp(real, u.port or 80), h11.Connection(h11.CLIENT))
        except OSError:
            await _answer(h, client, 502, [], f"cannot reach {where}")
            return None
    try:
        return await _relay(h, client, request, body, upstream)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await upstream[1].aclose()
        raise


async def _relay(h: h11.Connection, client: anyio.abc.ByteStream, request: h11.Request, body: bytes,
                 upstream: tuple[str, anyio.abc.SocketStream, h11.Connection],
                 ) -> tuple[str, anyio.abc.SocketStream, h11.Connection] | None:
    _, remote, uh = upstream
    u = urlsplit(request.target.decode())
    headers = [(k, v) for k, v in request.headers if k not in (b"proxy-authorization", b"proxy-connection")]
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    out = uh.send(h11.Request(method=request.method, target=path, headers=headers)) or b""
    if body:
        out += uh.send(h11.Data(data=body)) or b""
    await remote.send(out + (uh.send(h11.EndOfMessage()) or b""))
    try:
        response = await _next(uh, remote)
        if not isinstance(response, h11.Response):
            await remote.aclose()
            return None
        await client.send(h.send(h11.Response(status_code=response.status_code, headers=response.headers,
                                              reason=response.reason)) or b"")
        while True:
            ev = await _next(uh, remote)
            if isinstance(ev, h11.Data):
                await client.send(h.send(ev) or b"")
            elif isinstance(ev, h11.EndOfMessage):
                await client.send(h.send(h11.EndOfMessage()) or b"")
                break
            else:  # the target closed mid-body: so does the proxy, and the client sees the break
                await remote.aclose()
                return None
    except h11.RemoteProtocolError:
        await remote.aclose()
        return None
    if uh.our_state is h11.DONE and uh.their_state is h11.DONE:
        uh.start_next_cycle()
        return upstream
    await remote.aclose()
    return None


async def _serve_forever() -> None:
    """Print the port, then proxy until killed (benchmarks/online_clients.py runs it this way)."""
    async with running_proxy() as proxy:
        print(proxy.port, flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(_serve_forever)
