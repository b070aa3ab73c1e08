"""Unique ids made cheaply: a session's id, a served request's, an OpenAI-face answer's.

An id is a random prefix drawn once per process (drawn again in a forked child, so a
pre-forking server never repeats its parent's ids) followed by a counter: 32 hex characters,
the length of a uuid4's hex. Not a uuid4 per id: its ``os.urandom`` is a system call on every
request, which also hands the GIL to the caller's thread when the server runs in-process.
Ids are unique, not secret: nothing may rely on them being unguessable.
"""

from __future__ import annotations

import itertools
import os
import secrets

__all__ = ["new_id"]

_prefix = secrets.token_hex(8)
_count = itertools.count()


def _reseed() -> None:
    global _prefix, _count
    _prefix, _count = secrets.token_hex(8), itertools.count()


os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """A new id, unique across this process and its forks (32 hex characters)."""
    return f"{_prefix}{next(_count):016x}"
