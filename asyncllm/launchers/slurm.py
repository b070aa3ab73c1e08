"""``al.launchers.slurm(...)``: engines, served modules and trials as Slurm batch jobs.

Each launch writes a private directory (0700) holding the batch script, the job's log and,
when the command has an environment, a 0600 env file that the script sources: secrets never
reach a command line (``sbatch``'s, or the job's). ``sbatch --parsable`` submits; the job is
polled with ``scontrol show job`` (with anyio sleeps) until it runs; its first node's address
(``scontrol show node``: NodeAddr) makes the URL; ``stop()`` runs ``scancel`` and waits until
Slurm reports the job finished. All formats live in _slurm_cmd.py.

* A command with ``{port}`` (an engine) gets a port picked on the submitting machine, and the
  handle's URL once ``health_path`` answers. Multi-node clusters: the directory must be on a
  filesystem the nodes share (``workdir=``), and the command must bind an address other nodes
  can reach.
* A served module runs ``python -m asyncllm.serving._child``: the spec file (0600, deleted by
  the child once read) names the served object by import path; the child reports its port
  through a file in the job directory.
* A trial runs ``python -m asyncllm.launchers._trial_job`` and writes its JSON outcome to a
  file in the job directory.
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
from .._exceptions import AsyncLLMError, ConfigError, EngineStartError, LifecycleError
from .._process import free_port, http_ok, import_dirs, write_private
from ._slurm_cmd import (
    JobState,
    SbatchSpec,
    build_sbatch_script,
    first_node,
    parse_job_state,
    parse_node_addr,
    parse_sbatch_job_id,
    parse_scontrol_record,
    parse_time_limit,
    sbatch_argv,
    scancel_argv,
    scontrol_job_argv,
    scontrol_node_argv,
    write_env_file,
)
from .base import CommandSpec, HandleServer, Status, TrialOutcome, expand_port

__all__ = ["SlurmJobHandle", "SlurmLauncher", "slurm"]

_TOOL_TIMEOUT = 30.0


async def _tool(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    if shutil.which(argv[0]) is None:
        raise ConfigError(f"Slurm's {argv[0]} is not on PATH: run on a Slurm submit host "
                          "(apt-get install slurm-client) or use another launcher")
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


class SlurmJobHandle:
    """One submitted batch job."""

    def __init__(self, launcher: SlurmLauncher, job_id: str, directory: str) -> None:
        self.launcher = launcher
        self.job_id = job_id
        self.directory = directory
        self._url: str | None = None
        self._state = JobState.PENDING
        self._cancelled = False
        self._cleaned = False
        self.node: str | None = None

    def __repr__(self) -> str:
        return f"<SlurmJobHandle job={self.job_id} {self._state.value} url={self._url}>"

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def state(self) -> JobState:
        return self._state

    @property
    def status(self) -> Status:
        return _status(self._state, self._cancelled)

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, f"job-{self.job_id}.log")

    async def poll(self) -> Status:
        proc = await _tool(scontrol_job_argv(self.job_id, scontrol=self.launcher.scontrol))
        record = proc.stdout.decode(errors="replace") if proc.returncode == 0 else ""
        self._state = parse_job_state(record)
        if self.node is None and record:
            self.node = first_node(parse_scontrol_record(record).get("NodeList", ""))
        return self.status

    async def log_tail(self, lines: int = 40) -> str:
        path = anyio.Path(self.log_path)
        if not await path.exists():
            return ""
        return "\n".join((await path.read_text(errors="replace")).splitlines()[-lines:])

    async def _wait_running(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            while True:
                status = await self.poll()
                if status is Status.RUNNING and self.node is not None:
                    return
                if status.finished:
                    raise EngineStartError(f"Slurm job {self.job_id} ended ({self._state.value}) before it served",
                                           log_tail=await self.log_tail(), log_path=self.log_path)
                await anyio.sleep(self.launcher.poll_interval)
        raise EngineStartError(f"Slurm job {self.job_id} still {self._state.value} after {timeout:g}s "
                               "(check the partition's queue: squeue)", log_tail=await self.log_tail())

    async def node_address(self) -> str:
        assert self.node is not None
        proc = await _tool(scontrol_node_argv(self.node, scontrol=self.launcher.scontrol))
        if proc.returncode != 0:
            return self.node
        return parse_node_addr(proc.stdout.decode(errors="replace"))

    async def stop(self) -> None:
        with anyio.CancelScope(shield=True):
            try:
                if not self._cancelled and not self.status.finished:
                    self._cancelled = True
                    await _tool(scancel_argv(self.job_id, scancel=self.launcher.scancel))
                    with anyio.move_on_after(self.launcher.stop_timeout):
                        while not (await self.poll()).finished:
                            await anyio.sleep(self.launcher.poll_interval)
                self._cancelled = True
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
        while not (await self.poll()).finished:
            await anyio.sleep(self.launcher.poll_interval)


class SlurmLauncher:
    """See the module docstring. ``time`` is the job's time limit: seconds, or a string in
    Slurm's own formats (``"01:00:00"``, ``"90"`` minutes, ``"1-12:00"``)."""

    kind = "slurm"

    def __init__(self, partition: str | None = None, *, nodes: int = 1, ngpus: int | None = None,
                 cpus_per_task: int | None = None, mem_mb: int | None = None,
                 time: float | str | None = None, workdir: str | None = None, python: str | None = None,
                 poll_interval: float = 0.25,
                 start_timeout: float = 600.0, stop_timeout: float = 60.0, keep_files: bool = False,
                 extra_directives: Sequence[str] = (), sbatch: str = "sbatch", scontrol: str = "scontrol",
                 scancel: str = "scancel") -> None:
        if nodes < 1:
            raise ConfigError(f"nodes must be >= 1, got {nodes}")
        if ngpus is not None and ngpus < 0:
            raise ConfigError(f"ngpus must be >= 0, got {ngpus}")
        try:
            limit = None if time is None else parse_time_limit(time)
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        self.partition = partition
        self.nodes = nodes
        self.ngpus = ngpus
        self.cpus_per_task = cpus_per_task
        self.mem_mb = mem_mb
        self.time = limit
        self.workdir = workdir
        self.python = python or sys.executable
        self.poll_interval = poll_interval
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.keep_files = keep_files
        self.extra_directives = tuple(extra_directives)
        self.sbatch, self.scontrol, self.scancel = sbatch, scontrol, scancel

    def __repr__(self) -> str:
        return (f"<launchers.slurm partition={self.partition} nodes={self.nodes} ngpus={self.ngpus} "
                f"time={self.time}>")

    def server_launcher(self) -> HandleServer:
        return HandleServer(self)

    async def launch(self, spec: Any) -> SlurmJobHandle:
        from ..serving.launchers import ServerSpec

        if isinstance(spec, ServerSpec):
            return await self._launch_server(spec)
        if isinstance(spec, CommandSpec):
            return await self._launch_command(spec)
        raise ConfigError(f"the Slurm launcher cannot launch {type(spec).__name__}; pass a ServerSpec or CommandSpec")

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
                          extra_directives=self.extra_directives)
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
            raise _sbatch_error(err)
        return SlurmJobHandle(self, parse_sbatch_job_id(proc.stdout.decode()), directory)

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
            return handle
        try:
            await handle._wait_running(spec.start_timeout)
            url = f"http://{await handle.node_address()}:{port}"
            if spec.health_path is not None:
                await self._wait_http(handle, url + spec.health_path, spec.start_timeout)
            handle._url = url
        except BaseException:
            await handle.stop()
            raise
        return handle

    async def _wait_http(self, handle: SlurmJobHandle, probe: str, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            while True:
                if await http_ok(probe):
                    return
                if (await handle.poll()).finished:
                    raise EngineStartError(f"Slurm job {handle.job_id} ended before {probe} answered",
                                           log_tail=await handle.log_tail(), log_path=handle.log_path)
                await anyio.sleep(self.poll_interval)
        raise EngineStartError(f"{probe} did not answer within {timeout:g}s", log_tail=await handle.log_tail())

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
            await handle._wait_running(self.start_timeout)
            port = await self._read_port(handle, port_file)
            handle._url = url = f"http://{await handle.node_address()}:{port}"
            await wait_healthy(url, self.start_timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):
                tail = await handle.log_tail()
                await handle.stop()
            raise EngineStartError("the served module's Slurm job did not start", log_tail=tail) from None
        return handle

    async def _read_port(self, handle: SlurmJobHandle, port_file: str) -> int:
        path = anyio.Path(port_file)
        with anyio.fail_after(self.start_timeout):
            while True:
                if await path.exists():
                    text = (await path.read_text()).strip()
                    if text.isdigit():
                        return int(text)
                if (await handle.poll()).finished:
                    raise EngineStartError(f"Slurm job {handle.job_id} ended before it reported its port")
                await anyio.sleep(0.05)

    # -- trials --------------------------------------------------------------------------------

    async def run_trials(self, target: str, indices: Sequence[int], *, concurrency: int) -> list[TrialOutcome]:
        async def one(i: int) -> TrialOutcome:
            directory = await self._mkdir()
            out = os.path.join(directory, "outcome.json")
            env = {"PYTHONPATH": os.pathsep.join(await anyio.to_thread.run_sync(import_dirs))}
            argv = [self.python, "-m", "asyncllm.launchers._trial_job", target, str(i), out]
            handle = await self._submit(argv, f"trial-{i}", directory, env, None, None, None)
            try:
                await handle.wait()
                path = anyio.Path(out)
                if not await path.exists():
                    return TrialOutcome(i, error=f"SlurmJobError: job {handle.job_id} ended {handle.state.value} "
                                                 f"without an outcome; log: {await handle.log_tail(10)}")
                return TrialOutcome(**orjson.loads(await path.read_bytes()))
            finally:
                await handle.stop()

        return await gather([functools.partial(one, i) for i in indices], limit=concurrency)


def slurm(partition: str | None = None, *, nodes: int = 1, ngpus: int | None = None,
          time: float | str | None = None, **kw: Any) -> SlurmLauncher:
    """Run as Slurm batch jobs on ``partition`` (the cluster's default if None) with ``nodes``
    nodes, ``ngpus`` GPUs (``--gres=gpu:N``) and a ``time`` limit (seconds, or Slurm's
    ``"HH:MM:SS"``, ``"MM"``, ``"D-HH:MM"`` ...). Other keywords:
    ``cpus_per_task``, ``mem_mb``, ``workdir`` (a shared directory for job files),
    ``python``, ``poll_interval``, ``start_timeout``, ``stop_timeout``, ``keep_files``,
    ``extra_directives``."""
    return SlurmLauncher(partition, nodes=nodes, ngpus=ngpus, time=time, **kw)
