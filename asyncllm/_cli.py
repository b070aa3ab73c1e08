"""The ``asyncllm`` command line: a table of subcommands, each one small function.

To add a subcommand, write a function and register it::

    @subcommand("serve", help="serve a module over HTTP", arguments=_serve_arguments)
    async def serve(args: argparse.Namespace) -> int:
        ...

``arguments`` (optional) adds the subcommand's own options to its parser. The function may be
sync or async; async ones run under anyio on the backend chosen with ``--backend``. The return
value is the exit status.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SUBCOMMANDS", "Subcommand", "build_parser", "main", "subcommand"]

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


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", default="async modules compose into flows that stream as they run",
                        help="the sentence the demo flow works on")
    parser.add_argument("--delay", type=float, default=0.04, help="seconds between streamed words")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asyncllm", description="asyncllm command line")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio",
                        help="event loop for async subcommands (default: asyncio)")
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
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
