"""``serve_app`` (serving/_hypercorn.py), the one way every asyncllm server runs hypercorn: when
its shutdown trigger fires it returns to its caller, and the caller's task group ends as usual.

On asyncio, hypercorn's ``serve`` returned with a cancel request left on the task that ran it
(``cancelling() == 1``): a task group with a task still running then re-raised it as a
``CancelledError`` from outside, which is how an engine stopped mid-load died with a traceback."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from starlette.applications import Starlette

from asyncllm.deploy._engine_serve import hypercorn_config
from asyncllm.serving._hypercorn import bind_socket, serve_app

pytestmark = pytest.mark.anyio


async def test_a_stopped_server_leaves_its_callers_task_group_to_end_normally() -> None:
    async def shutdown_trigger() -> None:
        await anyio.lowlevel.checkpoint()  # fires at once: the server stops as soon as it has started

    finished = []
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep_forever)  # a task still running when the server stops
            await serve_app(Starlette(), hypercorn_config(bind_socket()), shutdown_trigger)
            finished.append("served")
            tg.cancel_scope.cancel()
        finished.append("task group ended")
    assert finished == ["served", "task group ended"]
