"""The ``asyncllm`` command line: a table of subcommands, each one small function.

To add a subcommand, write a function and register it::

    @subcommand("serve", help="serve a module over HTTP", arguments=_serve_arguments)
    async def serve(args: argparse.Namespace) -> int:
        ...

``arguments`` (optional) adds the subcommand's own options to its parser. The function may be
sync or async; async ones run under anyio on the backend chosen with ``--backend``. The return
value is the exit status.

Mistakes get one line on stderr, naming what to change, and a non-zero exit: a bad option
(argparse) or a :class:`~asyncllm.ConfigError` exits 2, any other asyncllm error 1. ``asyncllm
--debug COMMAND ...`` (or ``serve --debug``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

__all__ = ["SUBCOMMANDS", "Subcommand", "build_parser", "main", "seconds", "subcommand"]

# returns the exit status (None means 0), or an awaitable of it
Runner = Callable[[argparse.Namespace], Any]


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    run: Runner
    arguments: Callable[[argparse.ArgumentParser], None] | None = None


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(
    name: str, *, help: str, arguments: Callable[[argparse.ArgumentParser], None] | None = None
) -> Callable[[Runner], Runner]:
    """Register ``fn`` as ``asyncllm <name>``."""

    def register(fn: Runner) -> Runner:
        if name in SUBCOMMANDS:
            raise ValueError(f"subcommand {name!r} is already registered")
        SUBCOMMANDS[name] = Subcommand(name, help, fn, arguments)
        return fn

    return register


# -- demo -------------------------------------------------------------------------------------


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds >= 0 (e.g. 0.04)")
    return value


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", default="async modules compose into flows that stream as they run",
                        help="the sentence the demo flow works on")
    parser.add_argument("--delay", type=seconds, default=0.04, help="seconds between streamed words")


def _build_demo_flow(delay: float) -> Any:
    import anyio

    import asyncllm as al

    class Typist(al.ModuleBase):
        """Streams a rewritten sentence word by word, like a model producing tokens."""

        def __init__(self, name: str, rewrite: Callable[[str], str]) -> None:
            super().__init__(name=name)
            self.rewrite = rewrite

        async def forward(self, text: str) -> Any:
            for word in self.rewrite(text).split():
                await anyio.sleep(delay)
                yield word + " "

    def stats(text: str) -> dict[str, int]:
        return {"words": len(text.split()), "characters": len(text)}

    return al.pipeline(
        str.strip,
        al.parallel(
            shout=Typist("shout", str.upper),
            mirror=Typist("mirror", lambda s: " ".join(reversed(s.split()))),
            stats=stats,
        ).asdict,
        lambda d: {k: v.strip() if isinstance(v, str) else v for k, v in d.items()},
    )


@subcommand("demo", help="run a small flow: parallel branches streaming into one output", arguments=_demo_arguments)
async def demo(args: argparse.Namespace) -> int:
    flow = _build_demo_flow(args.delay)
    print("flow:")
    print("  " + repr(flow).replace("\n", "\n  "))
    print(f"\ninput: {args.text!r}\nstreaming (chunks tagged by the branch that produced them):")
    started = time.perf_counter()
    async with flow.stream(args.text) as chunks:
        async for chunk in chunks:
            print(f"  [{chunk.module:>6}] {chunk.strip()}", flush=True)
    elapsed = time.perf_counter() - started
    print("\nresult:")
    for key, value in chunks.result.items():
        print(f"  {key:>6}: {value}")
    words = chunks.result["stats"]["words"]
    print(f"\n{elapsed:.2f} s: both streaming branches ran at once "
          f"(one after the other would take about {2 * words * args.delay:.2f} s)")
    return 0


# -- serve ------------------------------------------------------------------------------------


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    from asyncllm.serving.cli import add_arguments

    add_arguments(parser)


@subcommand("serve", help="serve a module over HTTP: asyncllm serve package.module:name", arguments=_serve_arguments)
async def serve(args: argparse.Namespace) -> int:
    from asyncllm.serving.cli import run

    return await run(args)


# -- chat -------------------------------------------------------------------------------------


def _chat_arguments(parser: argparse.ArgumentParser) -> None:
    from .trainable._chat_cli import add_arguments

    add_arguments(parser)


@subcommand("chat", help="chat with a local model (SmolLM2 on llama.cpp: no key, no GPU)", arguments=_chat_arguments)
async def chat(args: argparse.Namespace) -> int:
    from .trainable._chat_cli import run_chat

    return await run_chat(args)


# -- dispatch ---------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported on one line (argparse prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="asyncllm", description="asyncllm command line")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio",
                        help="event loop for async subcommands (default: asyncio)")
    parser.add_argument("--debug", dest="traceback", action="store_true",
                        help="show the traceback of a failure instead of one line")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for sc in SUBCOMMANDS.values():
        sub = subs.add_parser(sc.name, help=sc.help, description=sc.help)
        if sc.arguments is not None:
            sc.arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    run = SUBCOMMANDS[args.command].run
    try:
        if inspect.iscoroutinefunction(run):
            import anyio

            status = anyio.run(run, args, backend=args.backend)
        else:
            status = run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from ._exceptions import AsyncLLMError, ConfigError

        error = _leaf(exc)
        if not isinstance(error, AsyncLLMError) or args.traceback or getattr(args, "debug", False):
            raise  # a bug, or asked for: the whole traceback
        print(f"asyncllm {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2 if isinstance(error, ConfigError) else 1
    return int(status or 0)


def _leaf(exc: BaseException) -> BaseException:
    """The most specific error: the one inside (nested) single-error groups, as task groups
    raise them, and the typed cause a lifecycle stage wrapped ("deploy of X failed: ...")."""
    from ._exceptions import AsyncLLMError, LifecycleError

    while True:
        if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        elif (type(exc) is LifecycleError and isinstance(exc.__cause__, AsyncLLMError)
              and not isinstance(exc.__cause__, LifecycleError)):
            exc = exc.__cause__
        else:
            return exc


def _one_line(exc: BaseException) -> str:
    """The message's first line; where a log holds the rest, the path of it."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    line = lines[0]
    log = getattr(exc, "log_path", None)
    if log:
        line += f" (log: {log})"
    elif len(lines) > 1:
        line += " (asyncllm --debug shows the rest)"
    return line


if __name__ == "__main__":
    sys.exit(main())
