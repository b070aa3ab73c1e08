"""``al.launchers.slurm(...)``: engines, served modules and trials as Slurm batch jobs.

Each launch writes a private directory (0700) holding the batch script, the job's log and,
when the command has an environment, a 0600 env file that the script sources: secrets never
reach a command line (``sbatch``'s, or the job's). ``sbatch --parsable`` submits; the job is
polled with ``scontrol show job`` (with anyio sleeps) until it runs; its first node's address
(``scontrol show node``: NodeAddr) makes the URL; ``stop()`` runs ``scancel`` and waits until
Slurm reports the job finished. All formats live in _slurm_cmd.py.

A start is bounded by ``start_timeout`` as a whole (queueing, the port, the health check).
Jobs are submitted with ``--no-requeue``: Slurm would otherwise run a job again after a node
failure, behind the back of a handle that points at the old node. A launched job's handle is
watched (_watch.py): an outside ``scancel``, a lost node or the job's end shows in ``status``
and ``cause`` within seconds.

* A command with ``{port}`` (an engine) gets a port picked on the submitting machine, and the
  handle's URL once ``health_path`` answers. Multi-node clusters: the directory must be on a
  filesystem the nodes share (``workdir=``), and the command must bind an address other nodes
  can reach.
* A served module runs ``python -m asyncllm.serving._child``: the spec file (0600, deleted by
  the child once read) names the served object by import path; the child reports its port
  through a file in the job directory.
* A trial runs ``python -m asyncllm.launchers._trial_job`` and writes its JSON outcome to a
  file in the job directory. A trial job that ends without an outcome (killed, out of memory,
  node lost) is submitted again only ``retries`` times (none by default).
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.to_thread
import orjson

from .._concurrency import gather
from .._exceptions import AsyncLLMError, ConfigError, EngineStartError, LifecycleError, ResourcesUnavailableError
from .._process import free_port, http_ok, import_dirs, write_private
from ._slurm_cmd import (
    JobState,
    SbatchSpec,
    build_sbatch_script,
    first_node,
    job_end_cause,
    never_runs,
    parse_job_state,
    parse_node_addr,
    parse_sbatch_job_id,
    parse_scontrol_record,
    parse_sinfo,
    parse_time_limit,
    refused_for_resources,
    sbatch_argv,
    scancel_argv,
    scontrol_job_argv,
    scontrol_node_argv,
    sinfo_argv,
    write_env_file,
)
from ._watch import Watcher
from .base import CommandSpec, RemoteLauncher, RemoteState, Status, TrialOutcome, at_least, expand_port, seconds

__all__ = ["SlurmJobHandle", "SlurmLauncher", "slurm"]

_TOOL_TIMEOUT = 30.0
# One scontrol call per watched job every 2 s: news within seconds, light on slurmctld.
WATCH = Watcher("slurm", 2.0)


def _check_tool(name: str) -> None:
    if shutil.which(name) is None:
        raise ConfigError(f"Slurm's {name} is not on PATH: run on a Slurm submit host "
                          "(apt-get install slurm-client) or use another launcher")


async def _tool(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    _check_tool(argv[0])
    with anyio.fail_after(_TOOL_TIMEOUT):
        return await anyio.run_process(argv, check=False, stdin=subprocess.DEVNULL)


def _sbatch_error(err: str) -> AsyncLLMError:
    """sbatch's refusal as an error that keeps its cause: the launcher's options are only worth
    checking when the controller answered (and refused them)."""
    if "contact slurm controller" in err.lower() or "connect failure" in err.lower():
        return LifecycleError(f"sbatch could not reach the Slurm controller: {err}; check that slurmctld runs "
                              "(`scontrol ping`) and that this host is a submit host of the cluster")
    return ConfigError(f"sbatch refused the job: {err} (check partition=, ngpus=, time=, nodes=)")


def _status(state: JobState, cancelled: bool) -> Status:
    if state is JobState.COMPLETED:
        return Status.DONE
    if state is JobState.CANCELLED or (state is JobState.UNKNOWN and cancelled):
        return Status.CANCELLED
    if state is JobState.UNKNOWN:
        return Status.DONE  # aged out of slurmctld (MinJobAge) after it ended
    if state.is_finished:
        return Status.FAILED
    return Status.RUNNING if state.is_running else Status.PENDING


class SlurmJobHandle(RemoteState):
    """One submitted batch job. Its ``status`` and ``cause`` follow Slurm's record of the job,
    also after our ``stop()`` (which waits until Slurm reports the job ended): each record read
    sets them both, under the state's lock."""

    def __init__(self, launcher: SlurmLauncher, job_id: str, directory: str, spec: SbatchSpec | None = None) -> None:
        super().__init__(spec.job_name if spec is not None and spec.job_name else f"slurm-job-{job_id}")
        self.launcher = launcher
        self.job_id = job_id
        self.directory = directory
        self.spec = spec
        self._state = JobState.PENDING
        self._record: dict[str, str] = {}
        self._cleaned = False
        self.node: str | None = None

    def __repr__(self) -> str:
        return f"<SlurmJobHandle job={self.job_id} {self._state.value} url={self._url}>"

    @property
    def state(self) -> JobState:
        """Slurm's own state of the job (``status`` is what it means to a launcher)."""
        return self._state

    def _follow(self) -> None:
        """``status`` and ``cause`` from the job's state and record (the lock is held). The cause
        says why the job ended when not by our ``stop()``: an outside scancel, a lost node, its
        time limit, its exit code; None while it runs, when it completed, or once we stopped it."""
        self._status = status = _status(self._state, self._released)
        ended_badly = status.finished and not self._released and status is not Status.DONE
        self._cause = job_end_cause(self.job_id, self._state, self._record) if ended_badly else None

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, f"job-{self.job_id}.log")

    def _take(self, returncode: int, output: bytes, errors: bytes) -> None:
        if returncode != 0 and b"invalid job id" not in errors.lower():
            return  # slurmctld did not answer: nothing learned (a forgotten job says "Invalid job id")
        text = output.decode(errors="replace") if returncode == 0 else ""
        record = parse_scontrol_record(text)
        with self._lock:
            if self._state.is_finished and self._state is not JobState.UNKNOWN:
                return  # a finished job does not come back; keep its last record
            self._state = parse_job_state(text)
            if record:
                self._record = record
            if self.node is None and record:
                self.node = first_node(record.get("NodeList", ""))
            self._follow()

    async def poll(self) -> Status:
        proc = await _tool(scontrol_job_argv(self.job_id, scontrol=self.launcher.scontrol))
        self._take(proc.returncode, proc.stdout, proc.stderr)
        return self.status

    def refresh_blocking(self) -> None:
        if self._released or self._status.finished:
            return
        _check_tool(self.launcher.scontrol)
        proc = subprocess.run(scontrol_job_argv(self.job_id, scontrol=self.launcher.scontrol), capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=_TOOL_TIMEOUT, check=False)
        self._take(proc.returncode, proc.stdout, proc.stderr)

    async def failure_cause(self) -> str | None:
        """Why a call to the job's server may have failed: the job ended (and how). A broken
        connection reaches the client before slurmctld has always recorded a lost node, so look
        a few times."""
        for _ in range(4):
            if (await self.poll()).finished:
                return self.cause or f"Slurm job {self.job_id} ended {self._state.value}"
            await anyio.sleep(1.0)
        return None

    async def log_tail(self, lines: int = 40) -> str:
        path = anyio.Path(self.log_path)
        if not await path.exists():
            return ""
        return "\n".join((await path.read_text(errors="replace")).splitlines()[-lines:])

    async def _check_placeable(self) -> None:
        """Raise ResourcesUnavailableError (and cancel the job) when Slurm says it can never
        start as asked; otherwise return."""
        reason = never_runs(self._state, self._record)
        if reason is None:
            return
        await self.stop()
        raise await self.launcher._unplaceable(f"pending with reason {reason}", self.spec or SbatchSpec(argv=["?"]))

    async def _wait_running(self) -> None:
        while True:
            status = await self.poll()
            await self._check_placeable()
            if status is Status.RUNNING and self.node is not None:
                return
            if status.finished:
                raise EngineStartError(f"Slurm job {self.job_id} ended ({self._state.value}) before it served",
                                       log_tail=await self.log_tail(), log_path=self.log_path)
            await anyio.sleep(self.launcher.poll_interval)

    async def _late(self, timeout: float, what: str) -> EngineStartError:
        """The error for a start past its deadline: still queued (and why), or not answering."""
        if not self._state.is_running:
            reason = self._record.get("Reason", "")
            why = f" (reason: {reason})" if reason and reason != "None" else ""
            return EngineStartError(f"Slurm job {self.job_id} still {self._state.value}{why} after {timeout:g}s; "
                                    "check the partition's queue (squeue) or ask for less",
                                    log_tail=await self.log_tail())
        return EngineStartError(f"{what} did not answer within {timeout:g}s (Slurm job {self.job_id})",
                                log_tail=await self.log_tail(), log_path=self.log_path)

    async def node_address(self) -> str:
        assert self.node is not None
        proc = await _tool(scontrol_node_argv(self.node, scontrol=self.launcher.scontrol))
        if proc.returncode != 0:
            return self.node
        return parse_node_addr(proc.stdout.decode(errors="replace"))

    async def stop(self) -> None:
        WATCH.remove(self)
        with anyio.CancelScope(shield=True):
            try:
                with self._lock:  # stopped by us only when it still ran: a finished job keeps its cause
                    running = not self._released and not self._status.finished
                    self._released = self._released or running
                if running:
                    await _tool(scancel_argv(self.job_id, scancel=self.launcher.scancel))
                    with anyio.move_on_after(self.launcher.stop_timeout):
                        while not (await self.poll()).finished:
                            await anyio.sleep(self.launcher.poll_interval)
                if self._url is not None:
                    from .._http import aclose_origin

                    await aclose_origin(self._url)
            finally:
                await self._cleanup()

    async def _cleanup(self) -> None:
        if not self._cleaned and not self.launcher.keep_files:
            self._cleaned = True
            await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, self.directory, ignore_errors=True))

    async def wait(self) -> None:
        """Until the job ends. A job Slurm will never start (it asks for more than the
        partition allows) raises ResourcesUnavailableError instead of waiting forever."""
        while not (await self.poll()).finished:
            await self._check_placeable()
            await anyio.sleep(self.launcher.poll_interval)


class SlurmLauncher(RemoteLauncher):
    """See the module docstring. ``time`` is the job's time limit: seconds, or a string in
    Slurm's own formats (``"01:00:00"``, ``"90"`` minutes, ``"1-12:00"``)."""

    kind = "slurm"

    def __init__(self, partition: str | None = None, *, nodes: int = 1, ngpus: int | None = None,
                 cpus_per_task: int | None = None, mem_mb: int | None = None,
                 time: float | str | None = None, workdir: str | None = None, python: str | None = None,
                 poll_interval: float = 0.25,
                 start_timeout: float = 600.0, stop_timeout: float = 60.0, keep_files: bool = False,
                 extra_directives: Sequence[str] = (), sbatch: str = "sbatch", scontrol: str = "scontrol",
                 scancel: str = "scancel", sinfo: str = "sinfo") -> None:
        try:
            limit = None if time is None else parse_time_limit(time)
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        self.partition = partition
        self.nodes = at_least("nodes", nodes, 1)
        self.ngpus = ngpus if ngpus is None else at_least("ngpus", ngpus, 0)
        self.cpus_per_task = cpus_per_task
        self.mem_mb = mem_mb
        self.time = limit
        self.workdir = workdir
        self.python = python or sys.executable
        self.poll_interval = seconds("poll_interval", poll_interval)
        self.start_timeout = seconds("start_timeout", start_timeout)
        self.stop_timeout = seconds("stop_timeout", stop_timeout)
        self.keep_files = keep_files
        self.extra_directives = tuple(extra_directives)
        self.sbatch, self.scontrol, self.scancel, self.sinfo = sbatch, scontrol, scancel, sinfo

    def __repr__(self) -> str:
        return (f"<launchers.slurm partition={self.partition} nodes={self.nodes} ngpus={self.ngpus} "
                f"time={self.time}>")

    # -- submitting ----------------------------------------------------------------------------

    async def _mkdir(self) -> str:
        return await anyio.to_thread.run_sync(functools.partial(
            tempfile.mkdtemp, prefix="asyncllm-slurm-", dir=self.workdir))

    async def _submit(self, argv: list[str], name: str, directory: str, env: dict[str, str],
                      num_cpus: float | None, num_gpus: int | None, cwd: str | None) -> SlurmJobHandle:
        env_file = os.path.join(directory, "job.env") if env else None
        if env_file is not None:
            await anyio.to_thread.run_sync(write_env_file, env_file, env)
        cpus = math.ceil(num_cpus) if num_cpus else self.cpus_per_task
        spec = SbatchSpec(argv=argv, job_name=f"asyncllm-{name}", partition=self.partition, nodes=self.nodes,
                          cpus_per_task=cpus, ngpus=num_gpus if num_gpus is not None else self.ngpus,
                          mem_mb=self.mem_mb, time_limit=self.time,
                          output=os.path.join(directory, "job-%j.log"), workdir=cwd or directory,
                          requeue=False, extra_directives=self.extra_directives)
        try:
            script = build_sbatch_script(spec, env_file=env_file)
        except ValueError as exc:
            raise ConfigError(f"cannot build the batch script: {exc}") from exc
        script_path = os.path.join(directory, "job.sh")
        await anyio.Path(script_path).write_text(script)
        await anyio.Path(script_path).chmod(0o700)
        proc = await _tool(sbatch_argv(script_path, sbatch=self.sbatch))
        if proc.returncode != 0:
            err = "; ".join(x.strip() for x in proc.stderr.decode(errors="replace").splitlines() if x.strip())
            if refused_for_resources(err):
                raise await self._unplaceable(err, spec)
            raise _sbatch_error(err)
        handle = SlurmJobHandle(self, parse_sbatch_job_id(proc.stdout.decode()), directory, spec)
        # A partition that does not enforce its limits at submit takes a job no node can hold
        # and leaves it pending forever: look until the scheduler has given it a first reason.
        for _ in range(8):
            await handle.poll()
            if handle.state is not JobState.PENDING or handle._record.get("Reason", "None") != "None":
                break
            await anyio.sleep(0.125)
        await handle._check_placeable()
        return handle

    async def _unplaceable(self, err: str, spec: SbatchSpec) -> ResourcesUnavailableError:
        """sbatch's refusal, with what the job asked for and what the partition's nodes have."""
        asked = {"CPU": float(spec.cpus_per_task or 1)} | ({"GPU": float(spec.ngpus)} if spec.ngpus else {})
        rows: list[dict[str, Any]] = []
        try:
            proc = await _tool(sinfo_argv(self.partition, sinfo=self.sinfo))
            rows = parse_sinfo(proc.stdout.decode(errors="replace")) if proc.returncode == 0 else []
        except (ConfigError, TimeoutError, OSError):
            pass  # the refusal is still worth reporting without the cluster's side
        have = "; ".join(f"partition {r['partition']}: {r['nodes']} node(s) of {r['cpus']} CPUs, {r['gpus']} GPUs, "
                         f"{r['mem_mb']} MB" for r in rows) or "unknown (sinfo did not answer)"
        best = max(rows, key=lambda r: (r["gpus"], r["cpus"]), default=None)
        mem = f", {spec.mem_mb} MB" if spec.mem_mb else ""
        return ResourcesUnavailableError(
            f"Slurm cannot place the job ({err}): it asks for {asked.get('CPU', 0):g} CPUs, "
            f"{asked.get('GPU', 0):g} GPUs{mem} per node on {spec.nodes} node(s), and the cluster has {have}; "
            "ask for less (cpus_per_task=/num_cpus, ngpus=, mem_mb=, nodes=) or pick another partition=",
            requested=asked, available={} if best is None else {"CPU": float(best["cpus"]), "GPU": float(best["gpus"])})

    async def _launch_command(self, spec: CommandSpec) -> SlurmJobHandle:
        directory = await self._mkdir()
        port = free_port() if spec.serves else None
        argv = expand_port(spec.argv, port) if port is not None else list(spec.argv)
        try:
            handle = await self._submit(argv, spec.name, directory, dict(spec.env), spec.num_cpus, spec.num_gpus,
                                        spec.cwd)
        except BaseException:
            await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, directory, ignore_errors=True))
            raise
        if port is None:
            WATCH.add(handle)
            return handle
        try:
            try:
                with anyio.fail_after(spec.start_timeout):  # one deadline for queueing, start and health
                    await handle._wait_running()
                    url = f"http://{await handle.node_address()}:{port}"
                    if spec.health_path is not None:
                        await self._wait_http(handle, url + spec.health_path)
            except TimeoutError:
                raise await handle._late(spec.start_timeout, spec.name) from None
            handle._url = url
        except BaseException:
            await handle.stop()
            raise
        WATCH.add(handle)
        return handle

    async def _wait_http(self, handle: SlurmJobHandle, probe: str) -> None:
        while not await http_ok(probe):
            if (await handle.poll()).finished:
                raise EngineStartError(f"Slurm job {handle.job_id} ended before {probe} answered",
                                       log_tail=await handle.log_tail(), log_path=handle.log_path)
            await anyio.sleep(self.poll_interval)

    async def _launch_server(self, spec: Any) -> SlurmJobHandle:
        from ..serving.launchers import wait_healthy

        directory = await self._mkdir()
        port_file = os.path.join(directory, "port")
        data = await anyio.to_thread.run_sync(spec.child_data)
        data.update(backend="asyncio", port_file=port_file)
        spec_file = os.path.join(directory, "spec.json")
        await anyio.to_thread.run_sync(write_private, spec_file, orjson.dumps(data))
        try:
            handle = await self._submit([self.python, "-m", "asyncllm.serving._child", spec_file], "server",
                                        directory, {}, None, None, None)
        except BaseException:
            await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, directory, ignore_errors=True))
            raise
        try:
            with anyio.fail_after(self.start_timeout):  # one deadline for queueing, start and health
                await handle._wait_running()
                port = await self._read_port(handle, port_file)
                handle._url = url = f"http://{await handle.node_address()}:{port}"
                await wait_healthy(url, self.start_timeout)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                late = await handle._late(self.start_timeout, "the served module") if isinstance(
                    exc, TimeoutError) else None
                tail = await handle.log_tail()
                await handle.stop()
            if late is not None:
                raise late from None
            if isinstance(exc, Exception) and not isinstance(exc, ResourcesUnavailableError):
                raise EngineStartError(f"the served module's Slurm job did not start: {exc}", log_tail=tail) from exc
            raise
        WATCH.add(handle)
        return handle

    async def _read_port(self, handle: SlurmJobHandle, port_file: str) -> int:
        path = anyio.Path(port_file)
        while True:
            if await path.exists():
                text = (await path.read_text()).strip()
                if text.isdigit():
                    return int(text)
            if (await handle.poll()).finished:
                raise EngineStartError(f"Slurm job {handle.job_id} ended before it reported its port")
            await anyio.sleep(0.05)

    # -- trials --------------------------------------------------------------------------------

    async def run_trials(self, target: str, indices: Sequence[int], *, concurrency: int,
                         retries: int = 0) -> list[TrialOutcome]:
        """Each trial is one batch job; a job that ends without an outcome (killed, out of
        memory, node lost) is submitted again at most ``retries`` times."""
        async def one(i: int) -> TrialOutcome:
            outcome, crashed = await self._trial_job(target, i)
            for _ in range(retries):
                if not crashed:
                    break
                outcome, crashed = await self._trial_job(target, i)
            if not crashed:
                return outcome
            runs = f"ran {retries + 1} times" if retries else "ran once; TrialModule(retries=N) re-runs a crashed trial"
            return TrialOutcome(i, error=f"{outcome.error} ({runs})")

        return await gather([functools.partial(one, i) for i in indices], limit=concurrency)

    async def _trial_job(self, target: str, i: int) -> tuple[TrialOutcome, bool]:
        """One run of trial ``i``: its outcome, and whether the job died without one."""
        directory = await self._mkdir()
        out = os.path.join(directory, "outcome.json")
        env = {"PYTHONPATH": os.pathsep.join(await anyio.to_thread.run_sync(import_dirs))}
        argv = [self.python, "-m", "asyncllm.launchers._trial_job", target, str(i), out]
        handle = await self._submit(argv, f"trial-{i}", directory, env, None, None, None)
        try:
            await handle.wait()
            path = anyio.Path(out)
            if not await path.exists():
                why = handle.cause or f"job {handle.job_id} ended {handle.state.value}"
                return TrialOutcome(i, error=f"SlurmJobError: {why} without an outcome; "
                                             f"log: {await handle.log_tail(10)}"), True
            return TrialOutcome(**orjson.loads(await path.read_bytes())), False
        finally:
            await handle.stop()


def slurm(partition: str | None = None, *, nodes: int = 1, ngpus: int | None = None,
          time: float | str | None = None, **kw: Any) -> SlurmLauncher:
    """Run as Slurm batch jobs on ``partition`` (the cluster's default if None) with ``nodes``
    nodes, ``ngpus`` GPUs (``--gres=gpu:N``) and a ``time`` limit (seconds, or Slurm's
    ``"HH:MM:SS"``, ``"MM"``, ``"D-HH:MM"`` ...). Other keywords:
    ``cpus_per_task``, ``mem_mb``, ``workdir`` (a shared directory for job files),
    ``python``, ``poll_interval``, ``start_timeout``, ``stop_timeout``, ``keep_files``,
    ``extra_directives``."""
    return SlurmLauncher(partition, nodes=nodes, ngpus=ngpus, time=time, **kw)
