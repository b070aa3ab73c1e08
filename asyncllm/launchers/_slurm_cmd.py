"""Pure builders and parsers for the Slurm command-line tools.

Nothing here runs a process: the launcher calls ``sbatch`` / ``squeue`` / ``scontrol`` /
``scancel`` with the argv built here and hands their output to the parsers. That keeps every
string format in one place and unit-testable against captured output (Slurm 22.05, Debian 12).

Secrets never go on a command line: :func:`build_sbatch_script` only *names* an env file, which
:func:`write_env_file` creates with mode 0600; the batch script sources it before ``exec``-ing the
command. (On a multi-node cluster that file must live on a filesystem the compute node shares.)
"""

from __future__ import annotations

import enum
import math
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import at_least

__all__ = [
    "JobState",
    "SbatchSpec",
    "build_sbatch_script",
    "expand_hostlist",
    "first_node",
    "format_time_limit",
    "job_end_cause",
    "never_runs",
    "parse_job_nodelist",
    "parse_job_state",
    "parse_node_addr",
    "parse_sbatch_job_id",
    "parse_scontrol_record",
    "parse_sinfo",
    "parse_squeue_state",
    "parse_state_word",
    "parse_time_limit",
    "refused_for_resources",
    "sbatch_argv",
    "scancel_argv",
    "scontrol_job_argv",
    "scontrol_node_argv",
    "sinfo_argv",
    "squeue_state_argv",
    "write_env_file",
]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JOB_ID = re.compile(r"^\d+(?:_\d+)?$")


class JobState(enum.Enum):
    """A Slurm job state (``squeue %T`` / ``scontrol`` ``JobState``), plus ``UNKNOWN``.

    ``UNKNOWN`` means Slurm no longer (or never) knew the job: finished jobs drop out of
    ``squeue`` at once and out of ``scontrol`` after ``MinJobAge``.
    """

    PENDING = "PENDING"
    CONFIGURING = "CONFIGURING"
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    SUSPENDED = "SUSPENDED"
    STOPPED = "STOPPED"
    SIGNALING = "SIGNALING"
    RESIZING = "RESIZING"
    REQUEUED = "REQUEUED"
    REQUEUE_FED = "REQUEUE_FED"
    REQUEUE_HOLD = "REQUEUE_HOLD"
    RESV_DEL_HOLD = "RESV_DEL_HOLD"
    STAGE_OUT = "STAGE_OUT"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    SPECIAL_EXIT = "SPECIAL_EXIT"
    REVOKED = "REVOKED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_finished(self) -> bool:
        """The job will never run (again) on its own: completed, failed, cancelled, gone…"""
        return self in _FINISHED

    @property
    def is_running(self) -> bool:
        """The job holds its nodes and its command runs (``RUNNING``)."""
        return self is JobState.RUNNING

    @property
    def is_waiting(self) -> bool:
        """Not started yet, or between runs (pending, configuring, requeued, held…)."""
        return not self.is_finished and self not in _ACTIVE


_FINISHED = frozenset(
    {
        JobState.COMPLETED,
        JobState.CANCELLED,
        JobState.FAILED,
        JobState.TIMEOUT,
        JobState.NODE_FAIL,
        JobState.PREEMPTED,
        JobState.BOOT_FAIL,
        JobState.DEADLINE,
        JobState.OUT_OF_MEMORY,
        JobState.SPECIAL_EXIT,
        JobState.REVOKED,
        JobState.UNKNOWN,
    }
)
_ACTIVE = frozenset(
    {
        JobState.RUNNING,
        JobState.COMPLETING,
        JobState.SUSPENDED,
        JobState.STOPPED,
        JobState.SIGNALING,
        JobState.RESIZING,
        JobState.STAGE_OUT,
    }
)


# --------------------------------------------------------------------------------------------
# sbatch
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SbatchSpec:
    """What to submit. Only ``argv`` is required; ``None`` leaves a setting to Slurm's default.

    ``time_limit`` is in seconds (rounded up to whole minutes, at least one). ``output`` may use
    Slurm's patterns (``%j`` = job id). ``extra_directives`` are raw ``#SBATCH`` options, e.g.
    ``("--exclusive",)``. Environment values do not appear here: see :func:`write_env_file`.
    """

    argv: Sequence[str]
    job_name: str = "asyncllm"
    partition: str | None = None
    nodes: int = 1
    ntasks: int | None = None
    cpus_per_task: int | None = None
    ngpus: int | None = None
    mem_mb: int | None = None
    time_limit: float | None = None
    output: str | None = None
    workdir: str | None = None
    # False: ``--no-requeue`` (Slurm would otherwise run the job again after a node failure).
    requeue: bool | None = None
    extra_directives: Sequence[str] = field(default_factory=tuple)


def format_time_limit(seconds: float) -> str:
    """Seconds → Slurm's ``D-HH:MM:SS`` (rounded up to whole minutes, at least one minute)."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"time limit must be a positive number of seconds, got {seconds!r}")
    minutes = max(1, math.ceil(seconds / 60))
    days, rem = divmod(minutes, 24 * 60)
    hours, mins = divmod(rem, 60)
    return f"{days}-{hours:02d}:{mins:02d}:00"


_TIME_FORMATS = "'MM', 'MM:SS', 'HH:MM:SS', 'D-HH', 'D-HH:MM' or 'D-HH:MM:SS'"


def parse_time_limit(value: object) -> float:
    """A time limit in seconds: a positive number, or a string in one of Slurm's own formats
    (``sbatch --time``: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
    days-hours:minutes, days-hours:minutes:seconds). ``ValueError`` names the accepted forms."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"time takes seconds (a number) or a Slurm time string ({_TIME_FORMATS}), "
                        f"got {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip()
        days, dash, rest = text.partition("-")
        parts = rest.split(":") if dash else text.split(":")
        fields = [days, *parts] if dash else parts
        if not all(f.isdigit() for f in fields) or len(parts) > 3 or (not dash and not text):
            raise ValueError(f"time={value!r} is not a Slurm time limit; use seconds or {_TIME_FORMATS}")
        nums = [int(p) for p in parts]
        if dash:  # D-HH[:MM[:SS]]: the part after the dash starts with hours
            nums += [0] * (3 - len(nums))
            seconds = float(int(days) * 86400 + nums[0] * 3600 + nums[1] * 60 + nums[2])
        elif len(nums) == 3:  # HH:MM:SS
            seconds = float(nums[0] * 3600 + nums[1] * 60 + nums[2])
        else:  # MM or MM:SS (a bare number is minutes, as sbatch reads it)
            seconds = float(nums[0] * 60 + (nums[1] if len(nums) == 2 else 0))
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"time={value!r}: the limit must be positive; use seconds or {_TIME_FORMATS}")
    return seconds


def _check_directive_value(name: str, value: str) -> str:
    if not value or any(c in value for c in "\n\r\0") or value != value.strip():
        raise ValueError(f"invalid {name} {value!r}")
    return value


def build_sbatch_script(spec: SbatchSpec, *, env_file: str | None = None) -> str:
    """The text of a batch script for ``spec``.

    The script sources ``env_file`` (if given) with ``set -a`` so its assignments are exported,
    then ``exec``-s the command so that ``scancel``'s signals reach it directly.
    """
    if not spec.argv:
        raise ValueError("argv must not be empty")
    if any("\0" in a for a in spec.argv):
        raise ValueError("argv items must not contain NUL")
    d: list[str] = [f"--job-name={_check_directive_value('job name', spec.job_name)}"]
    if spec.partition is not None:
        d.append(f"--partition={_check_directive_value('partition', spec.partition)}")
    d.append(f"--nodes={at_least('nodes', spec.nodes, 1)}")
    if spec.ntasks is not None:
        d.append(f"--ntasks={at_least('ntasks', spec.ntasks, 1)}")
    if spec.cpus_per_task is not None:
        d.append(f"--cpus-per-task={at_least('cpus_per_task', spec.cpus_per_task, 1)}")
    if spec.ngpus is not None and at_least("ngpus", spec.ngpus, 0):  # 0 GPUs: no --gres line
        d.append(f"--gres=gpu:{spec.ngpus}")
    if spec.mem_mb is not None:
        d.append(f"--mem={at_least('mem_mb', spec.mem_mb, 1)}M")
    if spec.time_limit is not None:
        d.append(f"--time={format_time_limit(spec.time_limit)}")
    if spec.output is not None:
        out = _check_directive_value("output path", spec.output)
        d.append(f"--output={out}")
        d.append(f"--error={out}")
    if spec.workdir is not None:
        d.append(f"--chdir={_check_directive_value('workdir', spec.workdir)}")
    if spec.requeue is not None:
        d.append("--requeue" if spec.requeue else "--no-requeue")
    for extra in spec.extra_directives:
        d.append(_check_directive_value("directive", extra))
    # sbatch stops reading #SBATCH lines at the first command, so directives come first.
    lines = ["#!/bin/bash", *(f"#SBATCH {x}" for x in d)]
    if env_file is not None:
        if "\n" in env_file or "\0" in env_file:
            raise ValueError(f"invalid env file path {env_file!r}")
        lines += ["set -a", f". {shlex.quote(env_file)}", "set +a"]
    lines.append("exec " + shlex.join(spec.argv))
    return "\n".join(lines) + "\n"


def write_env_file(path: str | os.PathLike[str], env: Mapping[str, str]) -> None:
    """Write ``env`` as shell assignments to a new file readable only by its owner (0600).

    Fails if the file exists, so a stale or foreign file is never reused. Values are quoted for
    ``sh``; names must be valid shell identifiers.
    """
    lines = []
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"invalid environment variable name {name!r}")
        if "\0" in value:
            raise ValueError(f"environment value of {name} contains NUL")
        lines.append(f"{name}={shlex.quote(value)}\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)  # in case the umask was unusual
        f.write("".join(lines))


def sbatch_argv(script_path: str, *, sbatch: str = "sbatch") -> list[str]:
    """``sbatch --parsable <script>``: prints ``<jobid>`` or ``<jobid>;<cluster>``."""
    return [sbatch, "--parsable", script_path]


def parse_sbatch_job_id(output: str) -> str:
    """The job id from ``sbatch --parsable`` output (``"12"``, ``"12;cluster"``)."""
    for line in output.splitlines():
        line = line.strip()
        if not line:
            continue
        job_id = line.split(";", 1)[0].strip()
        if _JOB_ID.match(job_id):
            return job_id
    raise ValueError(f"no job id in sbatch output: {output!r}")


# --------------------------------------------------------------------------------------------
# squeue / scontrol / scancel
# --------------------------------------------------------------------------------------------


def _check_job_id(job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise ValueError(f"invalid Slurm job id {job_id!r}")
    return job_id


def squeue_state_argv(job_id: str, *, squeue: str = "squeue") -> list[str]:
    """``squeue -h -j ID -o %T``. Prints nothing once the job has left the queue (rc 0), and
    ``slurm_load_jobs error: Invalid job id specified`` (rc 1) once Slurm forgot it."""
    return [squeue, "-h", "-j", _check_job_id(job_id), "-o", "%T"]


def scontrol_job_argv(job_id: str, *, scontrol: str = "scontrol") -> list[str]:
    """``scontrol show job -o ID``: one ``Key=Value`` line per job."""
    return [scontrol, "show", "job", "-o", _check_job_id(job_id)]


def scontrol_node_argv(node: str, *, scontrol: str = "scontrol") -> list[str]:
    """``scontrol show node -o NAME``."""
    if not node or node.startswith("-") or any(c.isspace() for c in node):
        raise ValueError(f"invalid node name {node!r}")
    return [scontrol, "show", "node", "-o", node]


def scancel_argv(job_id: str, *, signal: str | None = None, scancel: str = "scancel") -> list[str]:
    """``scancel [--signal=SIG --full] ID``. ``--full`` also signals the batch shell."""
    argv = [scancel]
    if signal is not None:
        if not re.match(r"^[A-Z0-9]+$", signal):
            raise ValueError(f"invalid signal {signal!r}")
        argv += [f"--signal={signal}", "--full"]
    argv.append(_check_job_id(job_id))
    return argv


def parse_state_word(word: str) -> JobState:
    """``"RUNNING"``, ``"CANCELLED+"``, ``"CANCELLED by 0"``, ``"CA"``-style short codes → state."""
    word = word.strip().split(None, 1)[0].rstrip("+") if word.strip() else ""
    if not word:
        return JobState.UNKNOWN
    try:
        return JobState(word.upper())
    except ValueError:
        return _SHORT_CODES.get(word.upper(), JobState.UNKNOWN)


_SHORT_CODES = {
    "PD": JobState.PENDING,
    "CF": JobState.CONFIGURING,
    "R": JobState.RUNNING,
    "CG": JobState.COMPLETING,
    "S": JobState.SUSPENDED,
    "ST": JobState.STOPPED,
    "SI": JobState.SIGNALING,
    "RS": JobState.RESIZING,
    "RQ": JobState.REQUEUED,
    "RF": JobState.REQUEUE_FED,
    "RH": JobState.REQUEUE_HOLD,
    "RD": JobState.RESV_DEL_HOLD,
    "SO": JobState.STAGE_OUT,
    "CD": JobState.COMPLETED,
    "CA": JobState.CANCELLED,
    "F": JobState.FAILED,
    "TO": JobState.TIMEOUT,
    "NF": JobState.NODE_FAIL,
    "PR": JobState.PREEMPTED,
    "BF": JobState.BOOT_FAIL,
    "DL": JobState.DEADLINE,
    "OOM": JobState.OUT_OF_MEMORY,
    "SE": JobState.SPECIAL_EXIT,
    "RV": JobState.REVOKED,
}


def parse_squeue_state(output: str) -> JobState:
    """State from ``squeue -h -j ID -o %T`` output; empty output (job left the queue) → UNKNOWN."""
    for line in output.splitlines():
        if line.strip():
            return parse_state_word(line)
    return JobState.UNKNOWN


_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_:/.\-]*=")


def parse_scontrol_record(text: str) -> dict[str, str]:
    """``Key=Value`` pairs of one ``scontrol show job|node`` record (``-o`` or multi-line).

    Values may contain spaces (``OS=Linux 6.1 #1 SMP``, ``Reason=...``): a token that does not
    start with ``Key=`` continues the previous value. Only the first record is read.
    """
    record: dict[str, str] = {}
    last: str | None = None
    for raw_line in text.splitlines():
        if not raw_line.strip():
            if record:
                break  # blank line ends the record in multi-line output
            continue
        for token in raw_line.split():
            if _KEY.match(token):
                key, value = token.split("=", 1)
                if key in record:
                    return record  # a repeated key starts the next record
                record[key] = value
                last = key
            elif last is not None:
                record[last] = f"{record[last]} {token}" if record[last] else token
    return record


def parse_job_state(scontrol_output: str) -> JobState:
    """``JobState`` from ``scontrol show job`` output; no record (forgotten job) → UNKNOWN."""
    record = parse_scontrol_record(scontrol_output)
    return parse_state_word(record.get("JobState", ""))


_END_WORDS = {
    JobState.CANCELLED: "was cancelled outside asyncllm (scancel, or the cluster's operator)",
    JobState.NODE_FAIL: "lost its node (NODE_FAIL)",
    JobState.TIMEOUT: "reached its time limit",
    JobState.OUT_OF_MEMORY: "ran out of memory",
    JobState.PREEMPTED: "was preempted",
    JobState.BOOT_FAIL: "could not boot its node",
    JobState.DEADLINE: "reached its deadline",
}


def job_end_cause(job_id: str, state: JobState, record: Mapping[str, str]) -> str:
    """Why job ``job_id`` ended, in one line, from its state and ``scontrol`` record."""
    node = record.get("NodeList") or record.get("BatchHost") or ""
    where = f" on {node}" if node and node != "(null)" else ""
    if state in _END_WORDS:
        return f"Slurm job {job_id}{where} {_END_WORDS[state]}"
    if state is JobState.FAILED:
        code = record.get("ExitCode", "")
        return f"Slurm job {job_id}{where} failed" + (f" (exit code {code})" if code else "")
    reason = record.get("Reason", "")
    detail = f": {reason}" if reason and reason != "None" else ""
    return f"Slurm job {job_id}{where} ended {state.value}{detail}"


def sinfo_argv(partition: str | None = None, *, sinfo: str = "sinfo") -> list[str]:
    """What the partition's nodes have: one ``partition|nodes|cpus|gres|memory`` line per kind."""
    argv = [sinfo, "-h", "-o", "%P|%D|%c|%G|%m"]
    if partition is not None:
        argv += ["-p", partition]
    return argv


_GPUS = re.compile(r"gpu(?::[^:,()]+)?:(\d+)")


def parse_sinfo(output: str) -> list[dict[str, Any]]:
    """``sinfo_argv`` output → ``[{"partition", "nodes", "cpus", "gpus", "mem_mb"}]``."""
    rows = []
    for line in output.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 5:
            continue
        part, nodes, cpus, gres, mem = parts
        gpus = sum(int(n) for n in _GPUS.findall(gres))
        rows.append({"partition": part.rstrip("*"), "nodes": _int(nodes), "cpus": _int(cpus), "gpus": gpus,
                     "mem_mb": _int(mem)})
    return rows


def _int(text: str) -> int:
    digits = re.match(r"\d+", text.strip())
    return int(digits.group()) if digits else 0


# sbatch's words for a request no node of the partition can hold.
_UNPLACEABLE = ("node configuration is not available", "can not be satisfied", "cannot be satisfied",
                "invalid generic resource")


def refused_for_resources(sbatch_error: str) -> bool:
    """True when sbatch refused a job because no node could hold what it asks for."""
    text = sbatch_error.lower()
    return any(w in text for w in _UNPLACEABLE)


# Pending reasons that do not pass: the request exceeds what the partition's nodes or limits
# allow (sbatch accepts such a job when the partition does not enforce its limits at submit).
_NEVER_RUNS = frozenset({"PartitionConfig", "BadConstraints", "PartitionNodeLimit", "PartitionTimeLimit"})


def never_runs(state: JobState, record: Mapping[str, str]) -> str | None:
    """The pending reason of a job that can never start as asked, else None."""
    reason = record.get("Reason", "")
    return reason if state is JobState.PENDING and reason in _NEVER_RUNS else None


def parse_job_nodelist(scontrol_output: str) -> list[str]:
    """The job's nodes (``NodeList``, expanded) from ``scontrol show job``; ``[]`` while pending."""
    value = parse_scontrol_record(scontrol_output).get("NodeList", "")
    if value in ("", "(null)"):
        return []
    return expand_hostlist(value)


def expand_hostlist(expr: str) -> list[str]:
    """Expand a Slurm hostlist: ``"gpu[01-03,07],cpu1"`` → ``gpu01 gpu02 gpu03 gpu07 cpu1``.

    Zero padding of the range start is kept. Supports one or more bracket groups per name
    (``"r[1-2]n[1-2]"``).
    """
    names: list[str] = []
    for part in _split_top_level(expr.strip()):
        names.extend(_expand_one(part))
    return names


def _split_top_level(expr: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in expr:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced brackets in hostlist {expr!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ValueError(f"unbalanced brackets in hostlist {expr!r}")
    parts.append("".join(cur))
    return [p for p in (p.strip() for p in parts) if p]


def _expand_one(part: str) -> list[str]:
    m = re.search(r"\[([^\]]*)\]", part)
    if m is None:
        return [part]
    head, tail = part[: m.start()], part[m.end() :]
    out: list[str] = []
    for item in m.group(1).split(","):
        item = item.strip()
        if "-" in item:
            lo, hi = item.split("-", 1)
            if not (lo.isdigit() and hi.isdigit()) or int(hi) < int(lo):
                raise ValueError(f"bad range {item!r} in hostlist {part!r}")
            width = len(lo)
            values = [str(i).zfill(width) for i in range(int(lo), int(hi) + 1)]
        elif item.isdigit():
            values = [item]
        else:
            raise ValueError(f"bad item {item!r} in hostlist {part!r}")
        for v in values:
            out.extend(_expand_one(head + v + tail))
    return out


def first_node(nodelist: str) -> str | None:
    """The first node of a (compressed) ``NodeList`` value, or None for ``""`` / ``(null)``."""
    if nodelist.strip() in ("", "(null)"):
        return None
    return expand_hostlist(nodelist)[0]


def parse_node_addr(scontrol_node_output: str) -> str:
    """The address to reach a node from ``scontrol show node``: ``NodeAddr``, else
    ``NodeHostName``, else ``NodeName``."""
    record = parse_scontrol_record(scontrol_node_output)
    for key in ("NodeAddr", "NodeHostName", "NodeName"):
        value = record.get(key, "")
        if value and value != "(null)":
            return value
    raise ValueError("no NodeAddr/NodeHostName/NodeName in scontrol output")
