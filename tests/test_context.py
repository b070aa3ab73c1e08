"""Session context: per-module injection, isolation between concurrent requests, usage with
used_by aggregation, return_trace."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import asyncllm as al
from asyncllm._context import record_usage
from asyncllm.modules.base import ModuleBase

pytestmark = pytest.mark.anyio


class Sees(ModuleBase):
    async def forward(self, x: Any, **kw: Any) -> dict[str, Any]:
        await anyio.sleep(0.01)  # overlap with the other request
        return {"x": x, **kw}


async def test_session_injects_parameters_history_and_files() -> None:
    m = Sees(id="mod")
    other = Sees(id="other")
    with al.session() as s:
        s.global_parameters["mod"] = {"temperature": 0.1}
        s.chat_history["mod"] = [["hi", "hello"]]
        s.files["mod"] = ["a.txt"]
        got = await m("q")
        assert got == {"x": "q", "temperature": 0.1, "llm_chat_history": [["hi", "hello"]],
                       "lazyllm_files": ["a.txt"]}
        assert await other("q") == {"x": "q"}
    # outside the block, a fresh session: nothing injected
    assert await m("q") == {"x": "q"}


async def test_concurrent_requests_are_isolated() -> None:
    m = Sees(id="shared")
    results: dict[str, Any] = {}

    async def request(user: str) -> None:
        with al.session() as s:
            s.global_parameters[m.id] = {"user": user}
            s.chat_history[m.id] = [[f"{user} said", "ok"]]
            s.files[m.id] = [f"{user}.pdf"]
            flow = al.parallel(m, al.pipeline(lambda x: x, m))
            results[user] = await flow(user)
            assert al.current_session() is s

    async with anyio.create_task_group() as tg:
        for user in ("alice", "bob", "carol"):
            tg.start_soon(request, user)
    for user in ("alice", "bob", "carol"):
        expected = {"x": user, "user": user, "llm_chat_history": [[f"{user} said", "ok"]],
                    "lazyllm_files": [f"{user}.pdf"]}
        assert list(results[user]) == [expected, expected]


async def test_branches_share_the_calling_session() -> None:
    ids: list[str] = []

    async def note(x: int) -> int:
        ids.append(al.current_session().id)
        return x

    with al.session() as s:
        await al.parallel(note, note, al.pipeline(note))(1)
    assert ids == [s.id] * 3


class Chat(ModuleBase):
    def __init__(self, prompt: int, completion: int) -> None:
        super().__init__()
        self.p, self.c = prompt, completion

    async def forward(self, x: Any) -> Any:
        record_usage(self.id, {"prompt_tokens": self.p, "completion_tokens": self.c}, self._used_by_moduleid)
        return x


async def test_usage_aggregates_into_parent_and_is_popped_after_success() -> None:
    seen_inside: list[Any] = []

    class Agent(ModuleBase):
        def __init__(self) -> None:
            super().__init__(id="agent")
            self.a = Chat(5, 1).used_by("agent")
            self.b = Chat(5, 1).used_by("agent")

        async def forward(self, x: Any) -> Any:
            await self.a(x)
            await self.b(x)
            seen_inside.append(dict(al.current_session().usage))
            return x

    with al.session() as s:
        agent = Agent()
        await agent(1)
    assert seen_inside == [{"agent": {"prompt_tokens": 10, "completion_tokens": 2}}]
    assert s.usage == {}  # each module's entry is popped when it returns
    assert s.total_usage() == {"prompt_tokens": 10, "completion_tokens": 2}
    assert [mid for mid, _ in s.usage_log] == [agent.a.id, agent.b.id]


async def test_usage_minus_one_makes_parent_unknown_for_good() -> None:
    with al.session() as s:
        record_usage("c1", {"prompt_tokens": 3, "completion_tokens": 1}, "p")
        record_usage("c2", {"prompt_tokens": -1, "completion_tokens": -1}, "p")
        record_usage("c3", {"prompt_tokens": 4, "completion_tokens": 4}, "p")
        assert s.usage["p"] == {"prompt_tokens": -1, "completion_tokens": -1}
        assert s.total_usage() == {"prompt_tokens": -1, "completion_tokens": -1}
        record_usage("solo", {"prompt_tokens": 2})
        assert s.usage["solo"] == {"prompt_tokens": 2, "completion_tokens": -1}


async def test_usage_survives_a_failed_call() -> None:
    class FailsAfterUsage(Chat):
        async def forward(self, x: Any) -> Any:
            await super().forward(x)
            raise RuntimeError("late failure")

    m = FailsAfterUsage(2, 2)
    with al.session() as s:
        with pytest.raises(al.ModuleExecutionError):
            await m(1)
        assert s.usage[m.id] == {"prompt_tokens": 2, "completion_tokens": 2}


async def test_return_trace_goes_to_session_trace_and_sink() -> None:
    sunk: list[tuple[str, Any]] = []

    class Up(ModuleBase):
        async def forward(self, x: str) -> str:
            return x.upper()

    m = Up(return_trace=True, name="up")
    quiet = Up()
    with al.session(trace_sink=lambda name, value: sunk.append((name, value))) as s:
        assert await m("a") == "A"
        await quiet("b")
        await al.pipeline(m, quiet)("c")
    assert s.trace == ["A", "C"]
    assert sunk == [("up", "A"), ("up", "C")]


async def test_return_trace_on_streamed_leaf() -> None:
    sunk: list[tuple[str, Any]] = []

    class Gen(ModuleBase):
        async def forward(self, x: str) -> Any:
            for ch in x:
                yield ch

    with al.session(trace_sink=lambda name, value: sunk.append((name, value))) as s:
        chunks = [c async for c in Gen(return_trace=True, name="g").stream("ab")]
    assert chunks == ["a", "b"]
    assert s.trace == ["ab"] and sunk == [("g", "ab")]


async def test_session_wire_round_trip() -> None:
    s = al.Session()
    s.global_parameters["m"] = {"k": 1}
    s.chat_history["m"] = [["q", "a"]]
    t = al.Session()
    t.update_from_wire(s.to_wire())
    assert t.id == s.id and t.global_parameters == {"m": {"k": 1}} and t.chat_history == {"m": [["q", "a"]]}


async def test_calls_outside_a_session_leave_nothing_behind(fake: Any) -> None:
    """A long-lived task (a worker) calling a model outside any session: the library binds no
    session to the task, so nothing collects a record per call for as long as the task lives.
    Inside ``al.session()`` the same calls are recorded in the session the block hands out."""
    from fakeprovider.state import DEFAULT_KEY

    from asyncllm._context import _session

    llm = al.OnlineChatModule(source="openai", base_url=fake + "/v1/", api_key=DEFAULT_KEY, model="gpt-4o-mini")
    streamed = Chat(3, 1)
    tracer = Sees()
    tracer._return_trace = True
    for _ in range(3):
        await llm("hi")
        await streamed(1)
        async with streamed.stream(1) as s:
            [c async for c in s]
        await tracer(1)
    assert _session.get() is None
    with al.session() as s:
        await llm("hi")
        await streamed(1)
    assert len(s.usage_log) == 2 and s.total_usage()["prompt_tokens"] > 3
    assert _session.get() is None


async def test_session_rules_hold_before_any_session_was_ever_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until a session is first bound anywhere, the call path reads a process flag instead of the
    session context variable (``_context.sessions_seen``). A process's first session, bound by
    a module's own forward, by ``al.session()`` or in the middle of a pipeline, still gets every
    rule: usage entries popped, session values injected."""
    from asyncllm import _context

    class Opens(ModuleBase):
        async def forward(self, x: int) -> int:
            al.current_session()  # the process's first session, bound by a call in flight
            record_usage(self.id, {"prompt_tokens": x, "completion_tokens": 1})
            return x

    async def fresh(fn: Any) -> Any:
        """Run ``fn`` in its own context as if no session had ever been bound in the process."""
        out: list[Any] = []

        async def go() -> None:
            _context._session.set(None)
            monkeypatch.setattr(_context, "sessions_seen", False)
            out.append(await fn())
            out.append(_context._session.get())

        async with anyio.create_task_group() as tg:
            tg.start_soon(go)
        return out

    opens = Opens()
    value, sess = await fresh(lambda: opens(3))
    assert value == 3 and sess.usage == {} and [m for m, _ in sess.usage_log] == [opens.id]
    assert _context.sessions_seen

    first = Opens()
    seer = Sees(id="seer")

    async def pipeline_then_injected() -> Any:
        out = await al.pipeline(first, Sees(), lambda d: d["x"], seer)(2)
        al.current_session().global_parameters["seer"] = {"k": 1}
        return out, await al.pipeline(seer)(5)

    (piped, injected), sess = await fresh(pipeline_then_injected)
    assert piped == {"x": 2} and injected == {"x": 5, "k": 1}
    assert sess.usage == {} and [m for m, _ in sess.usage_log] == [first.id]

    async def block() -> Any:
        with al.session(global_parameters={"seer": {"k": 2}}):
            return await seer(1)

    assert (await fresh(block))[0] == {"x": 1, "k": 2}
