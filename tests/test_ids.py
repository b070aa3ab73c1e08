"""``_ids.new_id``: the one generator of session, request and answer ids."""

from __future__ import annotations

import os

import asyncllm as al
from asyncllm._ids import new_id


def test_ids_are_unique_32_hex_characters() -> None:
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_sessions_take_their_ids_from_it() -> None:
    with al.session() as a, al.session() as b:
        assert a.id != b.id
        # The same process prefix, then a counter: made by new_id, not by a uuid4 each.
        assert a.id[:16] == b.id[:16] == new_id()[:16]


def test_a_forked_process_makes_its_own_ids() -> None:
    """The ids are a per-process prefix and a counter: a forked child (a pre-forking server)
    must not repeat its parent's."""
    parent = new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id, leave at once
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child[:16] != parent[:16] and child != new_id()
