"""A real job on the one-node Slurm cluster of scripts/slurm_setup.sh: sbatch a small HTTP server,
wait for RUNNING, resolve the node's address, call it, scancel, see it end. The secret it serves
reaches the job through a 0600 env file, never through a command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from slurm_check import slurm_skip_reason

from asyncllm.launchers._slurm_cmd import (
    JobState,
    SbatchSpec,
    build_sbatch_script,
    first_node,
    parse_job_nodelist,
    parse_job_state,
    parse_node_addr,
    parse_sbatch_job_id,
    parse_scontrol_record,
    sbatch_argv,
    scancel_argv,
    scontrol_job_argv,
    scontrol_node_argv,
    write_env_file,
)

_skip_reason = slurm_skip_reason()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.timeout(120),
    pytest.mark.skipif(_skip_reason is not None, reason=_skip_reason or ""),
]

SERVER = """
import http.server, os, sys
secret = os.environ["ASYNCLLM_TEST_SECRET"].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(secret)))
        self.end_headers()
        self.wfile.write(secret)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _run(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _state(job_id: str) -> JobState:
    proc = subprocess.run(scontrol_job_argv(job_id), capture_output=True, text=True, timeout=30)
    return parse_job_state(proc.stdout) if proc.returncode == 0 else JobState.UNKNOWN


def _wait_state(job_id: str, done: set[JobState] | None, timeout: float) -> JobState:
    deadline = time.monotonic() + timeout
    while True:
        state = _state(job_id)
        if (state in done) if done is not None else state.is_finished:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {state} after {timeout}s")
        time.sleep(0.2)


def _cmdlines_containing(needle: bytes) -> list[str]:
    hits = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if needle in f.read():
                        hits.append(entry)
            except OSError:
                pass
    return hits


def test_sbatch_http_server_roundtrip(tmp_path: Path) -> None:
    secret = f"tok-{os.urandom(8).hex()}"
    env_file = tmp_path / "job.env"
    write_env_file(env_file, {"ASYNCLLM_TEST_SECRET": secret})
    port = _free_port()
    log = tmp_path / "job-%j.log"
    script = tmp_path / "job.sh"
    spec = SbatchSpec(
        argv=[sys.executable, "-c", SERVER, str(port)],
        job_name="asyncllm-test",
        partition="debug",
        cpus_per_task=1,
        time_limit=120,
        output=str(log),
        workdir=str(tmp_path),
    )
    script.write_text(build_sbatch_script(spec, env_file=str(env_file)))

    t0 = time.monotonic()
    job_id = parse_sbatch_job_id(_run(sbatch_argv(str(script))))
    try:
        assert _wait_state(job_id, {JobState.RUNNING}, 30) is JobState.RUNNING
        t_running = time.monotonic() - t0
        job = _run(scontrol_job_argv(job_id))
        assert parse_scontrol_record(job)["JobName"] == "asyncllm-test"
        nodes = parse_job_nodelist(job)
        node = first_node(parse_scontrol_record(job)["NodeList"])
        assert nodes and node == nodes[0]
        addr = parse_node_addr(_run(scontrol_node_argv(node)))
        assert addr == "127.0.0.1"

        body = b""
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{addr}:{port}/", timeout=5) as r:
                    body = r.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        print(f"RUNNING after {t_running:.2f}s, answering after {time.monotonic() - t0:.2f}s")
        assert body.decode() == secret
        assert _cmdlines_containing(secret.encode()) == []
    finally:
        subprocess.run(scancel_argv(job_id), timeout=30, check=False)
    assert _wait_state(job_id, None, 30) is JobState.CANCELLED
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "server still listening after scancel"


def test_failed_job_is_reported(tmp_path: Path) -> None:
    script = tmp_path / "fail.sh"
    script.write_text(
        build_sbatch_script(SbatchSpec(argv=["false"], output=str(tmp_path / "f.log"), workdir=str(tmp_path)))
    )
    job_id = parse_sbatch_job_id(_run(sbatch_argv(str(script))))
    assert _wait_state(job_id, None, 30) is JobState.FAILED
