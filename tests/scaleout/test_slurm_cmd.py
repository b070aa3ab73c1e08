"""Unit tests of the Slurm builders/parsers against output captured from Slurm 22.05 (Debian 12)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from asyncllm.launchers._slurm_cmd import (
    JobState,
    SbatchSpec,
    build_sbatch_script,
    expand_hostlist,
    first_node,
    format_time_limit,
    job_end_cause,
    parse_job_nodelist,
    parse_job_state,
    parse_node_addr,
    parse_sbatch_job_id,
    parse_scontrol_record,
    parse_sinfo,
    parse_squeue_state,
    parse_state_word,
    refused_for_resources,
    sbatch_argv,
    scancel_argv,
    scontrol_job_argv,
    scontrol_node_argv,
    sinfo_argv,
    squeue_state_argv,
    write_env_file,
)

SAMPLES = Path(__file__).parent / "slurm_samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


# --- sbatch script ---------------------------------------------------------------------------


def test_script_directives_and_exec() -> None:
    spec = SbatchSpec(
        argv=["python", "-m", "http.server", "--bind", "127.0.0.1", "8000"],
        job_name="srv",
        partition="debug",
        nodes=2,
        ntasks=2,
        cpus_per_task=4,
        ngpus=8,
        mem_mb=2048,
        time_limit=90,
        output="/tmp/logs/%j.log",
        workdir="/tmp",
        extra_directives=("--exclusive",),
    )
    text = build_sbatch_script(spec, env_file="/tmp/env dir/job.env")
    assert text.splitlines() == [
        "#!/bin/bash",
        "#SBATCH --job-name=srv",
        "#SBATCH --partition=debug",
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks=2",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --gres=gpu:8",
        "#SBATCH --mem=2048M",
        "#SBATCH --time=0-00:02:00",
        "#SBATCH --output=/tmp/logs/%j.log",
        "#SBATCH --error=/tmp/logs/%j.log",
        "#SBATCH --chdir=/tmp",
        "#SBATCH --exclusive",
        "set -a",
        ". '/tmp/env dir/job.env'",
        "set +a",
        "exec python -m http.server --bind 127.0.0.1 8000",
    ]


def test_script_minimal_and_quoting() -> None:
    text = build_sbatch_script(SbatchSpec(argv=["echo", "a b", "$HOME", "it's"]))
    assert text.splitlines() == [
        "#!/bin/bash",
        "#SBATCH --job-name=asyncllm",
        "#SBATCH --nodes=1",
        """exec echo 'a b' '$HOME' 'it'"'"'s'""",
    ]
    assert "--gres" not in build_sbatch_script(SbatchSpec(argv=["x"], ngpus=0))


def test_script_runs_under_bash_with_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "job.env"
    secret = "s3cr3t 'quoted' $NOT_EXPANDED\\n"
    write_env_file(env_file, {"API_KEY": secret, "OTHER": ""})
    script = tmp_path / "job.sh"
    script.write_text(
        build_sbatch_script(
            SbatchSpec(argv=["python3", "-c", "import os; print(repr(os.environ['API_KEY']))"]),
            env_file=str(env_file),
        )
    )
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == repr(secret)
    assert secret not in script.read_text()


def test_env_file_is_0600_and_never_reused(tmp_path: Path) -> None:
    env_file = tmp_path / "e.env"
    old = os.umask(0)
    try:
        write_env_file(env_file, {"A": "1"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_env_file(env_file, {"A": "2"})
    with pytest.raises(ValueError, match="invalid environment variable name"):
        write_env_file(tmp_path / "f.env", {"A-B": "1"})


@pytest.mark.parametrize(
    "spec",
    [
        SbatchSpec(argv=[]),
        SbatchSpec(argv=["x"], nodes=0),
        SbatchSpec(argv=["x"], ngpus=-1),
        SbatchSpec(argv=["x"], ntasks=0),
        SbatchSpec(argv=["x"], cpus_per_task=0),
        SbatchSpec(argv=["x"], mem_mb=0),
        SbatchSpec(argv=["x"], job_name="a\nb"),
        SbatchSpec(argv=["x"], partition=""),
        SbatchSpec(argv=["x"], time_limit=0),
        SbatchSpec(argv=["x"], output=" /tmp/x"),
    ],
)
def test_script_rejects_bad_specs(spec: SbatchSpec) -> None:
    with pytest.raises(ValueError):
        build_sbatch_script(spec)


@pytest.mark.parametrize(("field", "value", "least"), [("nodes", 0, 1), ("ntasks", 0, 1), ("cpus_per_task", 0, 1),
                                                     ("ngpus", -1, 0), ("mem_mb", 0, 1)])
def test_a_bad_count_names_its_field(field: str, value: int, least: int) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be >= {least}, got {value}$"):
        build_sbatch_script(SbatchSpec(argv=["x"], **{field: value}))


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(1, "0-00:01:00"), (60, "0-00:01:00"), (61, "0-00:02:00"), (3600, "0-01:00:00"), (90000, "1-01:00:00")],
)
def test_time_limit(seconds: float, expected: str) -> None:
    assert format_time_limit(seconds) == expected


# --- argv builders --------------------------------------------------------------------------


def test_argv_builders() -> None:
    assert sbatch_argv("/tmp/j.sh") == ["sbatch", "--parsable", "/tmp/j.sh"]
    assert squeue_state_argv("12") == ["squeue", "-h", "-j", "12", "-o", "%T"]
    assert scontrol_job_argv("12") == ["scontrol", "show", "job", "-o", "12"]
    assert scontrol_node_argv("vm") == ["scontrol", "show", "node", "-o", "vm"]
    assert scancel_argv("12") == ["scancel", "12"]
    assert scancel_argv("12_3", signal="TERM") == ["scancel", "--signal=TERM", "--full", "12_3"]
    for bad in ("", "12;rm", "-1", "12 13"):
        with pytest.raises(ValueError):
            scancel_argv(bad)
    with pytest.raises(ValueError):
        scontrol_node_argv("--all")


# --- parsers --------------------------------------------------------------------------------


def test_parse_sbatch_job_id() -> None:
    assert parse_sbatch_job_id("3\n") == "3"
    assert parse_sbatch_job_id("17;cluster1\n") == "17"
    assert parse_sbatch_job_id("sbatch: warning: something\n42\n") == "42"
    with pytest.raises(ValueError):
        parse_sbatch_job_id("sbatch: error: Batch job submission failed: Invalid partition name specified")


def test_parse_squeue_state() -> None:
    assert parse_squeue_state("RUNNING\n") is JobState.RUNNING
    assert parse_squeue_state("PENDING\n") is JobState.PENDING
    assert parse_squeue_state("TIMEOUT\n") is JobState.TIMEOUT
    # A finished job leaves squeue's default listing: empty output, rc 0.
    assert parse_squeue_state("") is JobState.UNKNOWN
    assert parse_state_word("CANCELLED by 0") is JobState.CANCELLED
    assert parse_state_word("CANCELLED+") is JobState.CANCELLED
    assert parse_state_word("CG") is JobState.COMPLETING
    assert parse_state_word("weird") is JobState.UNKNOWN


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("job_running.txt", JobState.RUNNING),
        ("job_running_multiline.txt", JobState.RUNNING),
        ("job_pending_held.txt", JobState.PENDING),
        ("job_pending_multiline.txt", JobState.PENDING),
        ("job_completed.txt", JobState.COMPLETED),
        ("job_failed.txt", JobState.FAILED),
        ("job_cancelled.txt", JobState.CANCELLED),
        ("job_timeout.txt", JobState.TIMEOUT),
    ],
)
def test_parse_job_state_samples(name: str, state: JobState) -> None:
    assert parse_job_state(sample(name)) is state


def test_parse_job_state_forgotten_job() -> None:
    # `scontrol show job 999` prints only an error on stderr (rc 1).
    assert parse_job_state("") is JobState.UNKNOWN


def test_state_classes() -> None:
    assert JobState.RUNNING.is_running and not JobState.RUNNING.is_finished
    assert JobState.PENDING.is_waiting and JobState.REQUEUED.is_waiting
    assert not JobState.COMPLETING.is_waiting and not JobState.COMPLETING.is_finished
    for s in (JobState.COMPLETED, JobState.CANCELLED, JobState.FAILED, JobState.TIMEOUT, JobState.UNKNOWN):
        assert s.is_finished and not s.is_waiting


def test_scontrol_record_values_with_spaces() -> None:
    rec = parse_scontrol_record(sample("node.txt"))
    assert rec["NodeName"] == "vm"
    assert rec["NodeAddr"] == "127.0.0.1"
    assert rec["OS"].startswith("Linux ") and " " in rec["OS"]
    assert rec["CfgTRES"] == "cpu=2,mem=2G,billing=2"
    job = parse_scontrol_record(sample("job_running.txt"))
    assert job["JobId"] == "5" and job["AllocNode:Sid"].endswith(":2183") and job["Power"] == ""
    assert parse_scontrol_record(sample("job_running_multiline.txt")) == job
    two = sample("job_running.txt").strip() + "\n" + sample("job_failed.txt")
    assert parse_scontrol_record(two)["JobId"] == "5"


def test_nodelist_and_addr() -> None:
    assert parse_job_nodelist(sample("job_running.txt")) == ["vm"]
    assert parse_job_nodelist(sample("job_pending_held.txt")) == []
    assert parse_node_addr(sample("node.txt")) == "127.0.0.1"
    assert parse_node_addr(sample("node_oneline.txt")) == "127.0.0.1"
    assert parse_node_addr("NodeName=gpu7 NodeHostName=gpu7.cluster State=IDLE") == "gpu7.cluster"
    with pytest.raises(ValueError):
        parse_node_addr("")


def test_expand_hostlist() -> None:
    assert expand_hostlist("vm") == ["vm"]
    assert expand_hostlist("gpu[01-03,07],cpu1") == ["gpu01", "gpu02", "gpu03", "gpu07", "cpu1"]
    assert expand_hostlist("r[1-2]n[8-9]") == ["r1n8", "r1n9", "r2n8", "r2n9"]
    assert expand_hostlist("n[9-11]") == ["n9", "n10", "n11"]
    assert first_node("a[3-4]") == "a3"
    assert first_node("(null)") is None and first_node("") is None
    for bad in ("n[1-", "n]1[", "n[3-1]", "n[a]"):
        with pytest.raises(ValueError):
            expand_hostlist(bad)


def test_no_requeue_directive() -> None:
    assert "#SBATCH --no-requeue" in build_sbatch_script(SbatchSpec(argv=["x"], requeue=False)).splitlines()
    assert "#SBATCH --requeue" in build_sbatch_script(SbatchSpec(argv=["x"], requeue=True)).splitlines()
    assert "requeue" not in build_sbatch_script(SbatchSpec(argv=["x"]))


def test_job_end_cause_names_what_happened() -> None:
    record = parse_scontrol_record(sample("job_cancelled.txt"))
    assert job_end_cause("3", JobState.CANCELLED, record) == (
        "Slurm job 3 on vm was cancelled outside asyncllm (scancel, or the cluster's operator)")
    assert job_end_cause("4", JobState.NODE_FAIL, {"NodeList": "n[1-2]"}) == (
        "Slurm job 4 on n[1-2] lost its node (NODE_FAIL)")
    assert "exit code 3:0" in job_end_cause("5", JobState.FAILED, {"ExitCode": "3:0"})
    assert job_end_cause("6", JobState.TIMEOUT, {}) == "Slurm job 6 reached its time limit"
    assert job_end_cause("7", JobState.SPECIAL_EXIT, {"Reason": "Held"}) == "Slurm job 7 ended SPECIAL_EXIT: Held"


def test_sinfo_and_resource_refusals() -> None:
    assert sinfo_argv("gpu") == ["sinfo", "-h", "-o", "%P|%D|%c|%G|%m", "-p", "gpu"]
    rows = parse_sinfo("debug*|1|2|(null)|2048\ngpu|4|64|gpu:a100:8(S:0-1)|512000\nnoise\n")
    assert rows == [{"partition": "debug", "nodes": 1, "cpus": 2, "gpus": 0, "mem_mb": 2048},
                    {"partition": "gpu", "nodes": 4, "cpus": 64, "gpus": 8, "mem_mb": 512000}]
    assert refused_for_resources("sbatch: error: Batch job submission failed: Requested node configuration is not "
                                 "available")
    assert refused_for_resources("sbatch: error: Batch job submission failed: Invalid generic resource (gres) "
                                 "specification")
    assert not refused_for_resources("sbatch: error: Batch job submission failed: Invalid partition name specified")
