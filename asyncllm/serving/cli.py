"""``asyncllm serve pkg.mod:obj [--host H] [--port P] [--key K] ...``: serve a module from the shell.

The key is read from ``--key env:NAME`` (an environment variable) or ``--key file:PATH``, or
generated with ``--key generate`` and printed once; a literal ``--key VALUE`` works but is
visible to every user in ``ps``, so we warn. Once listening, one line goes to stdout:
``asyncllm serving <url>`` (plus the generated key, if any). SIGINT/SIGTERM shut down
gracefully.

Every :class:`ServerOptions` setting has a flag, and so has every :class:`CallerPolicy` setting
(``--allow-param``, ``--cap``, ``--no-history``, ``--no-files``, ``--file-urls``, ``--file-root``,
...): the shell gets what Python gets, with the same defaults (callers set nothing but the
input). The options object validates them, so a bad value is the same one-line ConfigError.
"""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import socket
import sys

from .._exceptions import ConfigError
from .options import CallerPolicy, ServerOptions

__all__ = ["add_arguments", "options_from", "run"]


_DEFAULTS = ServerOptions()
_CALLER = CallerPolicy()


def _cap(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=NUMBER (e.g. --cap max_tokens=1024)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, c = _DEFAULTS, _CALLER
    parser.add_argument("target", help="what to serve, as an import path: package.module:name")
    parser.add_argument("--host", default=d.host, help=f"address to bind (default {d.host})")
    parser.add_argument("--port", type=int, default=d.port, help="port to bind (default 0: any free port)")
    parser.add_argument("--key", default=None,
                        help="require 'Authorization: Bearer <key>': env:NAME, file:PATH, generate, or the key")
    parser.add_argument("--request-timeout", type=float, default=d.request_timeout,
                        help="seconds per request (default none)")
    parser.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes,
                        help=f"largest request body accepted (default {d.max_body_bytes})")
    parser.add_argument("--debug", action="store_true",
                        help="send tracebacks in error bodies (and show the traceback of a failed start)")
    net = parser.add_argument_group("connections")
    net.add_argument("--max-header-bytes", type=int, default=d.max_header_bytes,
                     help=f"largest request head accepted (default {d.max_header_bytes})")
    net.add_argument("--header-timeout", type=float, default=d.header_timeout,
                     help=f"seconds a client has to send a request's headers (default {d.header_timeout:g})")
    net.add_argument("--body-timeout", type=float, default=d.body_timeout,
                     help=f"seconds a client has to send a request's body (default {d.body_timeout:g})")
    net.add_argument("--keep-alive-timeout", type=float, default=d.keep_alive_timeout,
                     help=f"seconds an idle connection stays open (default {d.keep_alive_timeout:g})")
    net.add_argument("--max-connections", type=int, default=d.max_connections,
                     help="open connections at most, more get a 503 (default: from the descriptor limit)")
    net.add_argument("--graceful-timeout", type=float, default=d.graceful_timeout,
                     help=f"seconds in-flight requests get at shutdown (default {d.graceful_timeout:g})")
    net.add_argument("--sse-keepalive", type=float, default=d.sse_keepalive,
                     help=f"seconds of stream silence before a keep-alive comment (default {d.sse_keepalive:g})")
    net.add_argument("--model-name", default=d.model_name, help="the model name the OpenAI face reports")
    net.add_argument("--metrics", action="store_true", help="serve Prometheus metrics at GET /metrics")
    who = parser.add_argument_group("what a caller may set besides the input (default: nothing)")
    who.add_argument("--allow-param", dest="params", action="append", default=[], metavar="NAME",
                     help="a keyword argument callers may set (repeat for more), e.g. --allow-param temperature")
    who.add_argument("--cap", dest="caps", action="append", default=[], type=_cap, metavar="NAME=NUMBER",
                     help="upper bound for a numeric parameter a caller sets, e.g. --cap max_tokens=1024")
    who.add_argument("--no-history", action="store_true", help="refuse chat history from callers")
    who.add_argument("--no-files", action="store_true", help="refuse files sent as content (data: URLs)")
    who.add_argument("--file-urls", action="store_true",
                     help="let callers send http(s) URLs as files (the module fetches them)")
    who.add_argument("--file-root", default=c.file_root, metavar="DIR",
                     help="let callers name files by path inside DIR on this server")
    who.add_argument("--max-files", type=int, default=c.max_files,
                     help=f"files per request at most (default {c.max_files})")
    who.add_argument("--max-file-bytes", type=int, default=c.max_file_bytes,
                     help=f"bytes per file at most (default {c.max_file_bytes})")


def options_from(args: argparse.Namespace, key: str | None) -> ServerOptions:
    """The :class:`ServerOptions` the parsed flags describe (it validates them)."""
    caller = CallerPolicy(params=frozenset(args.params), caps=dict(args.caps), history=not args.no_history,
                          files=not args.no_files, file_urls=args.file_urls, file_root=args.file_root,
                          max_files=args.max_files, max_file_bytes=args.max_file_bytes)
    return ServerOptions(host=args.host, port=args.port, security_key=key, max_body_bytes=args.max_body_bytes,
                         max_header_bytes=args.max_header_bytes, request_timeout=args.request_timeout,
                         header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                         keep_alive_timeout=args.keep_alive_timeout, max_connections=args.max_connections,
                         graceful_timeout=args.graceful_timeout, sse_keepalive=args.sse_keepalive, debug=args.debug,
                         model_name=args.model_name, caller=caller, metrics=args.metrics)


def _key(spec: str | None) -> tuple[str | None, bool]:
    """(key, generated)."""
    if spec is None:
        return None, False
    if spec == "generate":
        return "sk-" + secrets.token_hex(24), True
    if spec.startswith("env:"):
        value = os.environ.get(spec[4:])
        if not value:
            raise ConfigError(f"--key {spec}: the environment variable {spec[4:]} is not set; export it first "
                              "(or use --key generate)")
        return value, False
    if spec.startswith("file:"):
        try:
            with open(spec[5:]) as f:
                key = f.read().strip()
        except OSError as exc:
            raise ConfigError(f"--key {spec}: cannot read {spec[5:]!r} ({exc.strerror}); give a readable file "
                              "holding the key") from exc
        if not key:
            raise ConfigError(f"--key {spec}: the file is empty; write the key into it")
        return key, False
    print("warning: a key given on the command line is visible in `ps`; prefer --key env:NAME",
          file=sys.stderr)
    return spec, False


async def run(args: argparse.Namespace) -> int:
    from .._importpath import resolve
    from ._child import run_server

    key, generated = _key(args.key)
    options = options_from(args, key)
    sys.path.insert(0, os.getcwd())  # like `python -m`: serve modules of the current directory
    target = resolve(args.target)
    # Bind before the served module starts (which may take minutes for a model): a port in use
    # or a bad --host fails at once. run_server closes it.
    sock = _listen(args.host, args.port)

    def announce(port: int) -> None:
        host = f"[{args.host}]" if ":" in args.host else args.host
        line = f"asyncllm serving http://{host}:{port}"
        if generated:
            line += f" key={key}"
        print(line, flush=True)

    await run_server(target, options=options, announce=announce, sock=sock)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    from ._hypercorn import bind_socket

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a port number; give 1-65535, or 0 for any free port")
    try:
        return bind_socket(host, port)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host!r} is not an address of this machine ({exc.strerror}); give an IP "
                          "address such as 127.0.0.1 (the default) or ::1") from exc
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use; choose another --port, or --port 0 for any "
                              "free one") from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise ConfigError(f"no permission to listen on port {port}; choose a port above 1023, or --port 0 "
                              "for any free one") from exc
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(f"--host {host!r} is not an address of this machine; give one of its addresses "
                              "such as 127.0.0.1 (the default)") from exc
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host and --port") from exc
