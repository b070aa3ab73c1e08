"""``asyncllm serve pkg.mod:obj [--host H] [--port P] [--key K]``: serve a module from the shell.

The key is read from ``--key env:NAME`` (an environment variable) or ``--key file:PATH``, or
generated with ``--key generate`` and printed once; a literal ``--key VALUE`` works but is
visible to every user in ``ps``, so we warn. Once listening, one line goes to stdout:
``asyncllm serving <url>`` (plus the generated key, if any). SIGINT/SIGTERM shut down
gracefully.
"""

from __future__ import annotations

import argparse
import os
import secrets
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
    parser.add_argument("--debug", action="store_true", help="send tracebacks in error bodies")


def _key(spec: str | None) -> tuple[str | None, bool]:
    """(key, generated)."""
    if spec is None:
        return None, False
    if spec == "generate":
        return "sk-" + secrets.token_hex(24), True
    if spec.startswith("env:"):
        value = os.environ.get(spec[4:])
        if not value:
            raise ConfigError(f"--key {spec}: the environment variable {spec[4:]} is not set")
        return value, False
    if spec.startswith("file:"):
        with open(spec[5:]) as f:
            return f.read().strip(), False
    print("warning: a key given on the command line is visible in `ps`; prefer --key env:NAME",
          file=sys.stderr)
    return spec, False


async def run(args: argparse.Namespace) -> int:
    from .._importpath import resolve
    from ._child import run_server
    from .options import ServerOptions

    key, generated = _key(args.key)
    sys.path.insert(0, os.getcwd())  # like `python -m`: serve modules of the current directory
    target = resolve(args.target)

    def announce(port: int) -> None:
        host = f"[{args.host}]" if ":" in args.host else args.host
        line = f"asyncllm serving http://{host}:{port}"
        if generated:
            line += f" key={key}"
        print(line, flush=True)

    options = ServerOptions(host=args.host, port=args.port, security_key=key, max_body_bytes=args.max_body_bytes,
                            request_timeout=args.request_timeout, debug=args.debug)
    await run_server(target, options=options, announce=announce)
    return 0
