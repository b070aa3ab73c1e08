"""The progress display: plain lines off a terminal (throttled, with ETA), a tqdm bar on one (a real
pseudo-terminal), nothing when off or when the work is short; wired into evalsets, grid search and
fine-tune phases."""

from __future__ import annotations

import io
import os
import re
import select
import time

import anyio
import pytest

import asyncllm as al
from asyncllm import _progress
from asyncllm._progress import Progress, mode, progress
from asyncllm.finetune.base import FinetuneDisplay


@pytest.fixture
def no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    monkeypatch.setattr(_progress, "INTERVAL", 0.0)


def test_plain_lines_count_fields_eta_and_done(no_delay: None) -> None:
    out = io.StringIO()
    with Progress("finetune.x", total=4, unit="steps", stream=out, display="plain") as p:
        p.update(loss=2.5)
        time.sleep(0.01)
        p.update(loss=1.25)
        p.note("writing")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("asyncllm: finetune.x: 1/4 steps, loss 2.5 [0 s")
    assert re.match(r"asyncllm: finetune\.x: 2/4 steps, loss 1\.25 \[0 s, ETA \d+ s\]", lines[1]), lines
    assert lines[-1].startswith("asyncllm: finetune.x (writing): 2/4 steps, loss 1.25 [") and lines[-1].endswith(
        ", done]")


def test_short_work_and_off_print_nothing() -> None:
    out = io.StringIO()
    with Progress("quick", total=2, stream=out, display="plain") as p:  # the default 2 s delay
        p.update(2)
    assert out.getvalue() == ""
    with al.config.override(progress="off"):
        assert mode() == "off"
        with progress("nothing", total=1, delay=0) as q:
            q.update()
    with al.config.override(progress="loud"), pytest.raises(al.ConfigError, match="ASYNCLLM_PROGRESS='loud'"):
        mode()


def test_plain_lines_are_throttled(no_delay: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "INTERVAL", 3600.0)
    out = io.StringIO()
    with Progress("many", total=100, stream=out, display="plain") as p:
        for _ in range(100):
            p.update()
    assert len(out.getvalue().splitlines()) == 2  # the first, then the last


def test_a_failure_is_shown(no_delay: None) -> None:
    out = io.StringIO()
    with pytest.raises(ValueError), Progress("work", stream=out, display="plain"):
        raise ValueError("x")
    assert "(failed)" in out.getvalue()


def test_auto_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    master, slave = os.openpty()
    try:
        with open(slave, "w", closefd=False) as tty:
            assert mode(tty) == "bar"
            with Progress("tuning", total=3, unit="steps", stream=tty, delay=0) as p:
                for loss in (3.0, 2.0, 1.0):
                    p.update(loss=loss)
                    time.sleep(0.6)  # past tqdm's redraw interval
            tty.flush()
        screen = b""
        while select.select([master], [], [], 0.2)[0]:
            screen += os.read(master, 65536)
    finally:
        os.close(master)
        os.close(slave)
    text = screen.decode()
    assert "tuning" in text and "3/3" in text and "loss 1" in text
    assert "\r" in text.replace("\r\n", "")  # redrawn in place, not line by line
    assert mode(io.StringIO()) == "plain"


def test_the_bar_eta_is_not_fooled_by_the_ticks_between_slow_steps() -> None:
    clock = [1000.0]
    p = Progress("tuning", total=4, unit="steps", stream=io.StringIO(), display="bar", delay=0)
    bar = p._bar
    bar._time = lambda: clock[0]  # tqdm's own clock, made ours: no sleeping
    bar.start_t = bar.last_print_t = clock[0]
    for _ in range(2):  # two steps of 10 s each, the display ticked every second meanwhile
        for _ in range(10):
            clock[0] += 1
            p.tick()
        p.update(loss=1.0)
    meter = bar.format_meter(**bar.format_dict)
    p.close()
    assert "2/4 [00:20<00:20" in meter, meter  # 2 steps left at 10 s each


@pytest.mark.anyio
async def test_an_evalset_shows_its_items(no_delay: None, capsys: pytest.CaptureFixture[str]) -> None:
    class Slow(al.ModuleBase):
        async def forward(self, x: int) -> int:
            await anyio.sleep(0.01)
            return x * 2

    m = Slow(name="slow").evalset([1, 2, 3], concurrency=1)
    await m.eval()
    assert m.eval_result == [2, 4, 6]
    err = capsys.readouterr().err
    assert "asyncllm: eval slow: 1/3 items" in err and "asyncllm: eval slow: 3/3 items" in err


class Scaled(al.ModuleBase):
    def __init__(self, lr: al.Option) -> None:
        super().__init__()
        self.lr = lr

    async def forward(self, x: float) -> float:
        if self.lr > 1:
            raise ValueError("too big")
        return x * self.lr


@pytest.mark.anyio
async def test_grid_search_counts_trials_and_failures(no_delay: None, capsys: pytest.CaptureFixture[str]) -> None:
    m = Scaled(al.Option([0.5, 2.0])).evalset([1])
    results = await al.TrialModule(m, concurrency=1).update()
    assert [r.ok for r in results] == [True, False]
    err = capsys.readouterr().err
    assert "asyncllm: grid search: 2/2 trials, failed 1" in err


@pytest.mark.anyio
async def test_a_grid_without_evalset_says_why_eval_result_is_none(caplog: pytest.LogCaptureFixture) -> None:
    results = await al.TrialModule(Scaled(al.Option([0.5, 0.25]))).update()
    assert results[0].eval_result is None
    assert "has no evalset, so every eval_result will be None; give it one with .evalset([...])" in caplog.text


def test_finetune_phases_loading_steps_writing(no_delay: None, capsys: pytest.CaptureFixture[str]) -> None:
    with FinetuneDisplay("finetune.cpu_lora m.gguf") as shown:
        shown.feed({"event": "loaded", "steps": 2})
        shown.feed({"step": 1, "loss": 2.0})
        shown.feed({"step": 2, "loss": 1.0})
        shown.feed({"event": "converted"})
    err = capsys.readouterr().err
    assert "finetune.cpu_lora m.gguf (loading the model)" in err
    assert "finetune.cpu_lora m.gguf: 2/2 steps, loss 1 [" in err
    assert "finetune.cpu_lora m.gguf (writing the tuned model) [" in err
