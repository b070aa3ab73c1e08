"""Every Python block of the README runs as written, and every output its comments show is asserted
(tests/readme_blocks.py). Online blocks reach the fake provider through the documented
``ASYNCLLM_ONLINE_BASE_URL``; the local-model blocks use the embedded model, and the fine-tune
block runs on a pseudo-terminal, where it must show its progress and leave only the tuned models.
The scale-out block (Ray) runs with the scale-out tests (tests/scaleout/test_readme_scaleout.py)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal
from fakeprovider.server import running_fake_provider
from fakeprovider.state import DEFAULT_KEY, FakeState
from readme_blocks import REPO, Block, blocks, check, files, instrument, python_scripts, run_block

from asyncllm._config import VENDOR_KEY_ENV


def kind(block: Block) -> str:
    """Which test runs a block: the scale-out tests (Ray), the pty fine-tune test, the real-model
    test, or the quick one."""
    if "launchers.ray(" in block.code:
        return "scaleout"
    if "al.finetune.cpu_lora" in block.code:
        return "finetune"
    if 'TrainableModule("SmolLM2' in block.code:
        return "model"
    return "quick"


SCRIPTS = python_scripts()


def _ids(kind_name: str) -> list[Block]:
    return [b for b in SCRIPTS if kind(b) == kind_name]


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    """The fake provider on a real socket, in a thread of its own (the blocks are subprocesses)."""
    state = FakeState(keys={DEFAULT_KEY, "sk-a", "sk-b", "sk-c", "sk-user-1"})
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(running_fake_provider(state)) as url:
        yield str(url)


@pytest.fixture
def env(fake_url: str) -> dict[str, str]:
    """A clean environment: the redirect to the fake, its key under each vendor variable used."""
    out = {k: "" for k in os.environ if k.startswith("ASYNCLLM_") or any(k in v for v in VENDOR_KEY_ENV.values())}
    out.update({"ASYNCLLM_ONLINE_BASE_URL": fake_url + "/v1/", "OPENAI_API_KEY": DEFAULT_KEY,
                "ANTHROPIC_API_KEY": DEFAULT_KEY, "DASHSCOPE_API_KEY": DEFAULT_KEY, "ZHIPUAI_API_KEY": DEFAULT_KEY})
    return out


def test_every_block_has_a_runner_and_the_readme_is_not_empty_of_them() -> None:
    kinds = [kind(b) for b in SCRIPTS]
    assert kinds.count("quick") >= 6 and kinds.count("scaleout") == 1 and kinds.count("finetune") == 1
    assert (REPO / "tests" / "scaleout" / "test_readme_scaleout.py").is_file()
    assert {f.file for f in files()} >= {"data.json", "myapp/models.py"}
    for b in SCRIPTS:
        compile(instrument(b), b.name, "exec")  # every block parses after instrumenting


def test_the_extractor_turns_output_comments_into_checks() -> None:
    text = ("# T\n\n```python\nx = 1\nx + 1  # 2\nx  # -> int\nprint(x)\n# 1\nx  # a remark\n```\n"
            "```json file=d.json\n[]\n```\n")
    found = blocks(text)
    assert [(b.lang, b.file, b.heading) for b in found] == [("python", None, "T"), ("json", "d.json", "T")]
    script = instrument(found[0])
    assert "assert _v == 2" in script and "assert isinstance(_v, int)" in script and "a remark" in script
    assert found[0].expected == ["1"]
    with pytest.raises(AssertionError, match="expected the line '1'"):
        check(found[0], 0, "2\n", "")
    with pytest.raises(AssertionError, match="left something open"):
        check(found[0], 0, "1\n", "Unclosed client session")


@pytest.mark.parametrize("block", _ids("quick"), ids=lambda b: b.name)
def test_block_runs_as_written(block: Block, env: dict[str, str], tmp_path: Path) -> None:
    run_block(block, tmp_path, env, timeout=120)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("block", _ids("model"), ids=lambda b: b.name)
def test_local_model_block_runs_as_written(block: Block, env: dict[str, str], tmp_path: Path) -> None:
    proc = run_block(block, tmp_path, env, timeout=540)
    assert proc.stdout.strip()  # the model answered


def _run_on_a_terminal(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal (120 columns); all it wrote."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    screen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"ran past {timeout} s:\n{screen[-4000:].decode(errors='replace')}")
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    data = b""
                if not data and proc.poll() is not None:
                    break
                screen += data
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=30), screen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_finetune_block_shows_progress_on_a_terminal_and_leaves_only_the_models(env: dict[str, str],
                                                                             tmp_path: Path) -> None:
    (block,) = _ids("finetune")
    for f in files():
        assert f.file is not None
        (tmp_path / f.file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f.file).write_text(f.code)
    script = tmp_path / "finetune_block.py"
    script.write_text(instrument(block))
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO), "ASYNCLLM_PROGRESS": "auto", "TERM": "xterm"}
    rc, screen = _run_on_a_terminal([sys.executable, str(script)], tmp_path, full_env, timeout=1100)
    text = screen.replace("\r\n", "\n")
    (tmp_path / "screen.txt").write_text(text)  # what the terminal showed, for a failure's post-mortem
    check(block, rc, text, text)
    # A live display: bars redrawn in place ("\r" without a newline), the steps counted with their
    # loss and an ETA (tqdm's "elapsed<remaining"), the phases named.
    assert re.search(r"\r(?!\n)", text), text[-3000:]
    assert re.search(r"finetune\.cpu_lora .*\d+/6 .*<\d\d:\d\d.*loss \d", text), text[-3000:]
    assert "loading the model" in text and "writing the tuned model" in text
    assert "grid search" in text and "2/2" in text
    # Each trial printed where its model is, and that directory holds the model and its log only.
    printed = re.findall(r"^\[(0\.00[13])\] (\S+/model\.gguf) \['", text, flags=re.M)
    assert [v for v, _ in printed] == ["0.001", "0.003"], text[-3000:]
    root = tmp_path / "save_ckpt" / "pickle"
    for _, path in printed:
        model = Path(path)
        assert model.parent.parent == root and model.parent.name.startswith("data-")
        assert sorted(p.name for p in model.parent.iterdir()) == ["finetune.log", "model.gguf"]
    assert len(list(root.iterdir())) == 2
