"""``asyncllm chat``: talk to a local model from the terminal — no key, no GPU.

Starts the engine (SmolLM2-135M-Instruct on llama.cpp by default), answers one prompt from the
command line, or the lines typed at an interactive terminal (``/exit`` or Ctrl-D to leave), or
the whole of stdin when it is piped; tokens are printed as they arrive; the engine is stopped
on the way out, whatever happens.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import anyio
import anyio.to_thread

from .._context import session

__all__ = ["add_arguments", "run_chat"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", nargs="*", help="one prompt; without it: an interactive chat (or stdin)")
    parser.add_argument("--model", default="SmolLM2-135M-Instruct", help="a model name or a GGUF path")
    parser.add_argument("--system", default=None, help="a system prompt")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--stats", action="store_true",
                        help="print time to first token and tokens/s (the engine's token count)")
    parser.add_argument("--engine", default="auto", help="deploy method: auto (default), llamacpp, dummy, ...")


async def _answer(llm: Any, text: str, history: list[list[str]], args: argparse.Namespace) -> str:
    params: dict[str, Any] = {"max_tokens": args.max_tokens}
    if args.temperature is not None:
        params["temperature"] = args.temperature
    started = time.perf_counter()
    first: float | None = None
    n = 0
    with session() as sess:  # the engine's token count lands here
        async with llm.stream(text, llm_chat_history=history or None, **params) as tokens:
            async for tok in tokens:
                if first is None:
                    first = time.perf_counter() - started
                n += 1
                sys.stdout.write(tok)
                sys.stdout.flush()
    sys.stdout.write("\n")
    sys.stdout.flush()
    if args.stats and first is not None:
        print(_stats(n, sess.total_usage()["completion_tokens"], first, time.perf_counter() - started),
              file=sys.stderr)
    return str(tokens.result)


def _stats(chunks: int, completion_tokens: int, first: float, took: float) -> str:
    """Time to first token and the decode rate: tokens/s from the engine's own count (after the
    first token), chunks/s when the engine reported none."""
    decode = max(took - first, 1e-9)
    if completion_tokens > 0:
        rate = (completion_tokens - 1) / decode if completion_tokens > 1 else 0.0
        return f"[{completion_tokens} tokens, first after {first:.2f} s, {rate:.1f} tokens/s]"
    return (f"[{chunks} chunks (the engine reported no token count), first after {first:.2f} s, "
            f"{chunks / decode:.1f} chunks/s]")


async def run_chat(args: argparse.Namespace) -> int:
    import asyncllm.deploy as engines  # the engine classes, by the names the flag takes

    from ..deploy.base import Deployer
    from .module import TrainableModule

    engine = getattr(engines, args.engine, None)
    if not (isinstance(engine, type) and issubclass(engine, Deployer)):
        print(f"asyncllm chat: unknown engine {args.engine!r}; try auto, llamacpp, vllm or dummy", file=sys.stderr)
        return 2
    llm = TrainableModule(args.model).deploy_method(engine)
    if args.system:
        llm.prompt(args.system)
    interactive = not args.prompt and sys.stdin.isatty()
    if not args.prompt and not interactive:
        piped = (await anyio.to_thread.run_sync(sys.stdin.read)).strip()
        if not piped:
            print("asyncllm chat: give a prompt, pipe one in, or run it at a terminal", file=sys.stderr)
            return 2
        args.prompt = [piped]
    # Errors (a model that is not found, an engine that fails to start) go to the command line's
    # handler: one line naming the fix, or the traceback with --debug.
    async with llm:
        if not interactive:
            await _answer(llm, " ".join(args.prompt), [], args)
            return 0
        print("ready: type a message (/exit or Ctrl-D to quit)", file=sys.stderr)
        history: list[list[str]] = []
        while True:
            try:
                line = await anyio.to_thread.run_sync(input, "> ")
            except EOFError:
                return 0
            if line.strip() in ("/exit", "/quit"):
                return 0
            if line.strip():
                history.append([line, await _answer(llm, line, history, args)])
