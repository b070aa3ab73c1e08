"""TrainableModule on the dummy engine (a real HTTP subprocess): every path above the engine."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest
from proc_helpers import pid_alive

import asyncllm as al
from asyncllm import deploy, finetune
from asyncllm.deploy import EngineStatus
from asyncllm.prompts import FunctionCallFormatter
from asyncllm.serving import ServerModule
from asyncllm.trainable import TrainableModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

P = "{'do_sample': False, 'temperature': 0.1}"


def reply(x: object) -> str:
    return f"reply for {x}, and parameters is {P}"


async def test_start_call_stop_like_the_seed() -> None:
    m = TrainableModule().deploy_method(deploy.dummy).prompt(None)
    assert m.status() is EngineStatus.NOT_STARTED
    await m.start()
    assert m.status() is EngineStatus.RUNNING
    assert m.url is not None and m.url.startswith("http://127.0.0.1:") and m.url.endswith("/v1/")
    assert await m(1) == reply(1)
    pid = m.engine.pid  # type: ignore[union-attr]
    assert pid is not None and pid_alive(pid)
    await m.stop()
    assert m.status() is EngineStatus.STOPPED and not pid_alive(pid)
    with pytest.raises(al.LifecycleError, match="start"):
        await m(1)


async def test_stream_yields_pieces_as_produced() -> None:
    async with TrainableModule().deploy_method(deploy.dummy, chunk_delay=0.01) as m:
        pieces = []
        async with m.stream("a b") as s:
            async for c in s:
                pieces.append(c)
                assert c.module == "TrainableModule" and c.tag == "text"
        assert len(pieces) > 5  # word by word, not one block
        assert "".join(pieces) == s.result == reply("a b")
        # bare async for, and stream=True on the module
        assert "".join([c async for c in m.stream(2)]) == reply(2)
        assert await m.share(stream=True)(3) == reply(3)


async def test_share_keeps_deployment_with_own_prompt_and_id() -> None:
    m = TrainableModule().deploy_method(deploy.dummy)
    s = m.share(prompt="You are terse.", format=lambda text: text.upper())
    assert s.id != m.id and s._impl is m._impl
    await s.start()  # starting either starts the one shared engine
    assert m.url == s.url
    assert await m("x") == reply("x")
    assert await s("x") == reply("x").upper()
    assert isinstance(m._prompt, al.prompts.EmptyPrompter)  # type: ignore[attr-defined]
    await m.stop()
    assert s.status() is EngineStatus.STOPPED


async def test_usage_is_the_engines_count_recorded_for_the_parent() -> None:
    seen: dict[str, object] = {}

    class Parent(al.ModuleBase):
        def __init__(self) -> None:
            super().__init__()
            self.llm = TrainableModule().deploy_method(deploy.dummy)
            self.llm.used_by(self.id)

        async def forward(self, x: str) -> str:
            out = await self.llm(x)
            seen.update(al.current_session().usage.get(self.id, {}))
            return str(out)

    p = Parent()
    async with p:
        with al.session() as sess:
            assert await p("one two") == reply("one two")
    # the dummy engine counts whitespace words: 2 in, 11 out
    assert seen == {"prompt_tokens": 2, "completion_tokens": len(reply("one two").split())}
    assert sess.total_usage()["completion_tokens"] == 11


async def test_evalset_and_update_with_dummy_finetune(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    m = (TrainableModule("b1", str(tmp_path / "t")).deploy_method(deploy.dummy)
         .finetune_method(finetune.dummy, lr=0.1).trainset("").mode("finetune").prompt(None))
    m.evalset([1, 2, 3])
    with caplog.at_level(logging.INFO, logger="asyncllm.finetune"):
        await m.update()
    try:
        assert m.eval_result == [reply(1), reply(2), reply(3)]
        assert "dummy finetune!, and init-args is {'lr': 0.1}" in caplog.text
        assert m.finetuned_model_path is not None and m.finetuned_model_path.startswith(str(tmp_path / "t"))
    finally:
        await m.stop()


async def test_update_after_start_redeploys_the_tuned_model(tmp_path: Path) -> None:
    m = TrainableModule("b1", str(tmp_path)).deploy_method(deploy.dummy).finetune_method(finetune.dummy)
    await m.start()
    first = m.engine.pid  # type: ignore[union-attr]
    await m.update()
    try:
        assert m.engine.pid != first and not pid_alive(first)  # type: ignore[union-attr,arg-type]
        assert await m(5) == reply(5)
    finally:
        await m.stop()


async def test_trial_over_a_finetune_option(caplog: pytest.LogCaptureFixture) -> None:
    m = TrainableModule("b1", "t").finetune_method(finetune.dummy, a=al.Option(["f1", "f2"]))
    m.deploy_method(deploy.dummy).mode("finetune").prompt(None)
    m.evalset([1, 2])
    with caplog.at_level(logging.INFO, logger="asyncllm.finetune"):
        results = await al.TrialModule(m).update()
    assert [r.values for r in results] == [["f1"], ["f2"]]
    assert all(r.ok for r in results), [r.error for r in results]
    assert [r.eval_result for r in results] == [[reply(1), reply(2)]] * 2
    assert "init-args is {'a': 'f1'}" in caplog.text and "init-args is {'a': 'f2'}" in caplog.text
    assert m.status() is EngineStatus.NOT_STARTED  # the trials deployed copies, not the original


async def test_server_module_wraps_a_trainable_module() -> None:
    m = TrainableModule().deploy_method(deploy.dummy)
    s = ServerModule(m, post=lambda x: f"post2({x})")
    async with s:
        assert await s(1) == f"post2({reply(1)})"
        pid = m.engine.pid  # type: ignore[union-attr]
        assert pid is not None and pid_alive(pid)
    assert not pid_alive(pid) and m.status() is EngineStatus.STOPPED


async def test_server_module_streams_the_engine() -> None:
    async with ServerModule(TrainableModule().deploy_method(deploy.dummy)) as s:
        chunks = [c async for c in s.stream("z")]
    assert len(chunks) > 5 and "".join(chunks) == reply("z")


async def test_attach_to_a_running_engine_by_url() -> None:
    owner = TrainableModule().deploy_method(deploy.dummy)
    async with owner:
        for url in (owner.url, owner.url.rstrip("/"), owner.url + "chat/completions"):  # type: ignore[operator,union-attr]
            guest = TrainableModule().deploy_method(deploy.dummy, url=url)
            assert guest.status() is EngineStatus.ATTACHED and guest.url == owner.url
            await guest.start()  # nothing to launch
            assert await guest(7) == reply(7)
            await guest.stop()  # not ours to stop
            assert owner.status() is EngineStatus.RUNNING
    with pytest.raises(al.ConfigError, match="no other"):
        TrainableModule().deploy_method(deploy.dummy, url="http://127.0.0.1:1/v1", chunk_delay=1)


async def test_restart_and_wait() -> None:
    m = TrainableModule().deploy_method(deploy.dummy)
    await m.start()
    first = m.engine.pid  # type: ignore[union-attr]
    await m.restart()
    assert m.engine.pid != first and await m(1) == reply(1)  # type: ignore[union-attr]
    with anyio.move_on_after(0.3) as scope:
        await m.wait()  # the engine runs until stopped
    assert scope.cancelled_caught
    await m.stop()


async def test_embeddings_through_the_dummy_engine() -> None:
    async with TrainableModule("my-embed", type="embed").deploy_method(deploy.dummy) as e:
        v = await e("hello")
        vs = await e(["hello", "world"])
    assert len(v) == 384 and vs[0] == v and vs[1] != v


async def test_tool_calls_parsed_from_the_engine_text() -> None:
    # The dummy engine echoes the user text, so the "model" writes a SmolLM2-style call.
    call = '<tool_call>[{"name": "get_weather", "arguments": {"city": "Paris"}}]</tool_call>'
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    m = TrainableModule("SmolLM2-135M-Instruct").deploy_method(deploy.dummy)
    async with m:
        f = m.share(format=FunctionCallFormatter(parse_arguments=True))
        msg = await f(call, tools=tools)
        assert msg["content"] == "reply for "
        assert [c["function"] for c in msg["tool_calls"]] == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
        shown = [c async for c in m.stream(call, tools=tools)]
        assert "".join(shown) == "reply for "  # the call markup never reaches the stream


async def test_failing_engine_start_has_log_tail_and_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    pids: list[int] = []

    class Spy(deploy.LlamaCpp):
        async def launch(self, model: str) -> deploy.EngineHandle:
            import asyncllm._process as proc

            orig = proc.ManagedProcess.start

            async def start(self_: proc.ManagedProcess, **kw: object) -> None:
                await orig(self_, **kw)  # type: ignore[arg-type]
                assert self_.pid is not None
                pids.append(self_.pid)

            proc.ManagedProcess.start = start  # type: ignore[method-assign]
            try:
                return await super().launch(model)
            finally:
                proc.ManagedProcess.start = orig  # type: ignore[method-assign]

    m = TrainableModule(str(bad)).deploy_method(Spy, startup_timeout=60)
    with pytest.raises(al.LifecycleError) as info:
        await m.start()
    err = info.value.__cause__
    assert isinstance(err, al.EngineStartError)
    assert "exited" in str(err) and err.log_tail  # the engine's own last words
    assert pids and not pid_alive(pids[0])
    assert m.status() is EngineStatus.NOT_STARTED


async def test_seed_trial_of_a_served_trainable_module(caplog: pytest.LogCaptureFixture) -> None:
    # The seed's TrialModule example: a finetune Option, served with a post step, evaluated.
    m = TrainableModule("b1", "t").finetune_method(finetune.dummy, **dict(a=al.Option(["f1", "f2"])))
    m.deploy_method(deploy.dummy, chunk_delay=al.Option([0.0, 0.001])).mode("finetune").prompt(None)
    s = ServerModule(m, post=lambda x: f"post2({x})")
    s.evalset([1, 2, 3])
    with caplog.at_level(logging.INFO, logger="asyncllm.finetune"):
        results = await al.TrialModule(s).update()
    assert [r.values for r in results] == [["f1", 0.0], ["f1", 0.001], ["f2", 0.0], ["f2", 0.001]]
    assert all(r.ok for r in results), [r.error for r in results]
    assert all(r.eval_result == [f"post2({reply(i)})" for i in (1, 2, 3)] for r in results)
    assert caplog.text.count("init-args is {'a': 'f2'}") == 2


def test_engine_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    # A caller that crashes (no stop(), no `async with`) must not leave its engine running.
    import subprocess
    import sys
    import time

    script = tmp_path / "crash.py"
    script.write_text(
        "import os, anyio\n"
        "from asyncllm import deploy\n"
        "from asyncllm.trainable import TrainableModule\n"
        "async def main():\n"
        "    m = TrainableModule().deploy_method(deploy.dummy)\n"
        "    await m.start()\n"
        "    print(m.engine.pid, flush=True)\n"
        "    os._exit(3)\n"
        "anyio.run(main)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 3, out.stderr
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)


async def test_status_reports_an_engine_that_died_on_its_own() -> None:
    import os
    import signal

    m = TrainableModule().deploy_method(deploy.dummy)
    await m.start()
    try:
        os.killpg(m.engine.pid, signal.SIGKILL)  # type: ignore[union-attr,arg-type]
        with anyio.fail_after(10):
            while m.status() is EngineStatus.RUNNING:
                await anyio.sleep(0.05)
        assert m.status() is EngineStatus.FAILED
    finally:
        await m.stop()
    assert m.status() is EngineStatus.STOPPED
