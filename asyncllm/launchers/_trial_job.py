"""Entry of a trial run as a batch job: ``python -m asyncllm.launchers._trial_job TARGET INDEX OUT``.

Runs trial INDEX of the module at import path TARGET (see _trial_task.py) and writes its
JSON outcome to OUT (atomically, so the launcher never reads half a file).
"""

from __future__ import annotations

import sys

import orjson

from .._process import write_atomic
from ._trial_task import run_trial_blocking


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or not args[1].isdigit():
        raise SystemExit("usage: python -m asyncllm.launchers._trial_job TARGET INDEX OUT.json")
    target, index, out = args[0], int(args[1]), args[2]
    outcome = run_trial_blocking(target, index)
    write_atomic(out, orjson.dumps(outcome))


if __name__ == "__main__":
    main()
