"""``asyncllm serve pkg.mod:obj [--host H] [--port P] [--key K]``: serve a module from the shell.

The key is read from ``--key env:NAME`` (an environment variable) or ``--key file:PATH``, or
generated with ``--key generate`` and printed once; a literal ``--key VALUE`` works but is
visible to every user in ``ps``, so we warn. Once listening, one line goes to stdout:
``asyncllm serving <url>`` (plus the generated key, if any). SIGINT/SIGTERM shut down
gracefully.
"""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import socket
import sys

from .._exceptions import ConfigError
from .options import DEFAULT_MAX_BODY

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="what to serve, as an import path: package.module:name")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free port)")
    parser.add_argument("--key", default=None,
                        help="require 'Authorization: Bearer <key>': env:NAME, file:PATH, generate, or the key")
    parser.add_argument("--request-timeout", type=float, default=None, help="seconds per request (default none)")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY, help="largest request body accepted")
    parser.add_argument("--debug", action="store_true",
                        help="send tracebacks in error bodies (and show the traceback of a failed start)")


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
    from .options import ServerOptions

    key, generated = _key(args.key)
    options = ServerOptions(host=args.host, port=args.port, security_key=key, max_body_bytes=args.max_body_bytes,
                            request_timeout=args.request_timeout, debug=args.debug)
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
