"""``_TrainableImpl``: the deployment and fine-tuning half of a ``TrainableModule``.

It is the front module's submodule (and shared by every ``share()`` of it), so the lifecycle
deploys it once, stops it once, and walks its ``Option``s. It holds the builders' values
(``_deploy``/``_deploy_args``, ``_finetune``/``_finetune_args``, ``_train``, ``_trainset``,
``_mode``), runs the fine-tune as a train task and the engine as a deploy task, and keeps the
running :class:`~asyncllm.deploy.EngineHandle`.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.abc
from anyio.abc import TaskGroup

from .._config import config
from .._exceptions import ConfigError, LifecycleError, MissingDependencyError, ModelDownloadError
from .._status import Status
from ..deploy.auto import Auto
from ..deploy.base import Deployer, EngineHandle, EngineStatus, normalize_url
from ..deploy.dummy import Dummy
from ..modules.base import ModuleBase
from ..option import Option
from .families import ModelFamily, family_of
from .finetuned import finetuned_models
from .hub import HubName, download, parse_hub_name, source_of
from .models import KNOWN_MODELS, looks_like_path, model_type, resolve_model

__all__ = ["TrainableImpl"]

log = logging.getLogger("asyncllm.trainable")

_MODES = ("train", "finetune")


def _plain(args: dict[str, Any]) -> dict[str, Any]:
    # A module updated directly (not through a trial) still holds Options: use their current choice.
    return {k: (v.value if isinstance(v, Option) else v) for k, v in args.items()}


@contextlib.contextmanager
def _prefer(unresolved: ConfigError | None) -> Iterator[None]:
    """A base model name that did not resolve is the likelier mistake than whatever the engine
    or fine-tune then says about the bare name ("no engine fits", "not a GGUF file"): raise the
    resolution error, the engine's complaint as a note."""
    try:
        yield
    except ConfigError as exc:
        if unresolved is None or exc is unresolved or isinstance(exc, MissingDependencyError | ModelDownloadError):
            raise
        err = ConfigError(str(unresolved))
        err.add_note(f"with the name as is: {exc}")
        raise err from exc


class _Task:
    """One named fine-tune run in the caller's task group: its status, result and cancel scope."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.status = Status.PENDING
        self.path: str | None = None
        self.error: BaseException | None = None
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()

    async def run(self, job: Callable[[], Awaitable[str]], *,
                  task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            with self.scope:
                self.status = Status.RUNNING
                task_status.started()
                try:
                    self.path = await job()
                except Exception as exc:
                    # Kept for status()/the log; raising would tear down the caller's task group.
                    self.error = exc
                    self.status = Status.FAILED
                    log.warning("fine-tune task %r failed: %s", self.name, exc)
                    return
                self.status = Status.DONE
        finally:
            if self.status is Status.RUNNING:  # cancelled: by stop(name) or by the task group
                self.status = Status.CANCELLED
            self.done.set()

    async def stop(self) -> None:
        self.scope.cancel()
        await self.done.wait()


class TrainableImpl(ModuleBase):
    builder_keys: ClassVar[tuple[str, ...]] = ("trainset", "train_method", "finetune_method", "deploy_method", "mode")
    # What the builders set (class defaults None and {} until they are called; _install_builders).
    _trainset: Any
    _train: Any
    _train_args: dict[str, Any]
    _finetune: Any
    _finetune_args: dict[str, Any]
    _deploy_args: dict[str, Any]
    _mode: str | None

    def __init__(self, base_model: Any, target_path: str, type: str | None, *, source: str | None = None,
                 trust_remote_code: bool = True) -> None:
        super().__init__()
        self._base_model = base_model
        self._target_path = target_path
        self._type_arg = type
        if source is not None:
            source_of(source)  # a bad source is a ConfigError now, not at the first download
        self._source = source
        self._trust_remote_code = trust_remote_code
        self._finetuned_path: str | None = None
        self._engine: EngineHandle | None = None
        self._ever_started = False
        self._deploy: Any = Auto if self.base_name else None
        self._tasks: dict[str, _Task] = {}

    async def forward(self, *args: Any, **kw: Any) -> Any:
        raise ConfigError("call the TrainableModule, not its deployment")

    # -- what the builders set ----------------------------------------------------------------

    @property
    def base_name(self) -> str:
        b = self._base_model
        return str(b.value if isinstance(b, Option) else b or "").rstrip("/")

    @property
    def kind(self) -> str:
        return model_type(self.base_name, self._type_arg) if self.base_name else (self._type_arg or "llm")

    @property
    def family(self) -> ModelFamily:
        return family_of(self.base_name)

    def _mode_setter_hook(self) -> None:
        if self._mode not in (*_MODES, None):
            raise ConfigError(f"mode must be 'train' or 'finetune', got {self._mode!r}")

    def _deploy_setter_hook(self) -> None:
        args = self._deploy_args
        if self._deploy is not None and not (isinstance(self._deploy, Deployer) or
                                              (isinstance(self._deploy, type) and issubclass(self._deploy, Deployer))):
            raise ConfigError(f"deploy_method takes an engine such as al.deploy.llamacpp, got {self._deploy!r}")
        if "url" in args:
            extra = set(args) - {"url", "served_name"}
            if extra:
                raise ConfigError(f"deploy_method(..., url=...) attaches to a running engine; it takes no other "
                                  f"options (got {sorted(extra)})")
            # The engine kind still says how to talk to it (its JSON mode, say), though we did not start it.
            deployer = self._deploy if isinstance(self._deploy, Deployer) else \
                (self._deploy() if self._deploy is not None else None)
            self._engine = EngineHandle(normalize_url(str(args["url"])), deployer, None, self.base_name,
                                        str(args.get("served_name") or ""))
            self._attached = True
            self._deployed = True
        elif self._attached:
            self._engine = None
            self._attached = False
            self._deployed = False

    def _finetune_setter_hook(self) -> None:
        if "base_model" in self._finetune_args or "target_path" in self._finetune_args:
            raise ConfigError("finetune_method takes the method's own options; base_model and target_path "
                              "come from TrainableModule(base_model, target_path)")

    # -- paths --------------------------------------------------------------------------------

    def _resolve_base(self) -> tuple[str, ConfigError | None]:
        """The base model's path, or its name as is with the reason it did not resolve: engines
        and fine-tunes that need no files (dummy; vLLM with a hub name; a path that exists only
        on a remote node) take the name as is."""
        name = self.base_name
        try:
            return resolve_model(name, self._type_arg).path, None
        except MissingDependencyError:
            raise
        except ConfigError as exc:
            return name, exc

    def _hub_name(self, unresolved: ConfigError | None) -> HubName | None:
        """The hub id to download when the base model did not resolve (and downloads are allowed:
        the seed's ``trust_remote_code=False`` uses the name as is)."""
        if unresolved is None or not self._trust_remote_code:
            return None
        return parse_hub_name(self.base_name)

    async def _fetch(self, hub: HubName) -> str:
        return str(await download(hub, source=self._source))

    def target_root(self) -> Path:
        """Where this module's fine-tune runs go: ``target_path`` (absolute, or under
        ``ASYNCLLM_TRAIN_TARGET_ROOT``, default ``./save_ckpt``), else the model's name there."""
        root = Path(str(config.get("train_target_root", "") or Path.cwd() / "save_ckpt"))
        base = Path(self._target_path).expanduser() if self._target_path else Path(
            self.base_name.split("/")[-1] or "model")
        return base if base.is_absolute() else root / base

    def target_dir(self, trainset: str | None) -> Path:
        stem = Path(trainset).stem if trainset else "run"
        return self.target_root() / f"{stem}-{time.strftime('%y%m%d%H%M%S')}-{uuid.uuid4().hex[:4]}"

    def all_models(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        return finetuned_models(self.target_root())

    def set_specific_model(self, model: str | tuple[str, str]) -> str:
        """Deploy ``model`` (a path, a run id, or an ``(id, path)`` pair from ``all_models``)
        from the next start on; the path chosen."""
        valid, invalid = self.all_models()
        want = model[1] if isinstance(model, tuple) else str(model)

        def match(runs: list[tuple[str, str]]) -> str | None:
            for rid, path in runs:
                if want in (rid, path) or (looks_like_path(want) and Path(want).expanduser().resolve() == Path(path)):
                    return path
            return None

        if (path := match(valid)) is not None:
            self._finetuned_path = path
            return path
        listed = ", ".join(rid for rid, _ in valid) or "none yet"
        if (path := match(invalid)) is not None:
            raise ConfigError(f"the fine-tune run {path} holds no model (it failed, was cancelled or is still "
                              f"running): pick a finished one from get_all_models() ({listed})")
        raise ConfigError(f"{want!r} is not a fine-tuned model of this module (under {self.target_root()}): "
                          f"pick one from get_all_models() ({listed})")

    def deploy_model(self) -> tuple[str, ConfigError | None]:
        """The fine-tuned model when there is one on disk, else the base model (with the reason
        its name did not resolve, if it did not)."""
        ft = self._finetuned_path
        if ft and Path(ft).exists() and (Path(ft).is_file() or any(Path(ft).iterdir())):
            return ft, None
        return self._resolve_base()

    # -- lifecycle tasks ----------------------------------------------------------------------

    def _train_method(self) -> Any:
        mode = self._mode or ("finetune" if self._finetune is not None else None)
        if mode == "finetune":
            return self._finetune, self._finetune_args
        if mode == "train":
            return self._train, self._train_args
        return None, {}

    def _get_train_tasks(self) -> Any:
        method, _ = self._train_method()
        return None if method is None else self._run_train

    async def _trainset_path(self) -> str | None:
        ts = self._trainset
        if ts is None or isinstance(ts, str):
            return ts or None
        if callable(ts):
            out = ts()
            if inspect.isawaitable(out):
                out = await out
            return None if out is None else str(out)
        raise ConfigError(f"trainset takes a path or a callable returning one, got {type(ts).__name__}")

    async def _run_train(self, overrides: dict[str, Any] | None = None) -> str:
        from ..launchers.jobs import is_remote

        method, args = self._train_method()
        if method is None:
            raise ConfigError("no fine-tune method is set: finetune_method(al.finetune.X) (or train_method "
                              "with mode('train')) first")
        trainset = await self._trainset_path()
        kw = {**_plain(args), **(overrides or {})}
        if self._trust_remote_code and getattr(method, "takes_trust_remote_code", False):
            kw.setdefault("trust_remote_code", True)
        tuner = method(**kw) if isinstance(method, type) else method
        target = str(self.target_dir(trainset))
        base, unresolved = self._resolve_base()
        hub = self._hub_name(unresolved)
        if hub is not None and getattr(tuner, "needs_model", True) and not is_remote(getattr(tuner, "launcher", None)):
            base, unresolved = await self._fetch(hub), None
        with _prefer(unresolved):
            path = str(await tuner(base, target, trainset))
        self._finetuned_path = path
        log.info("%s: fine-tuned model at %s", self.base_name or "model", path)
        if self._engine is not None and not self._attached:
            # The running engine serves the old weights: stop it so the deploy step serves the new.
            await self._engine.stop()
            self._engine = None
            self._deployed = False
        return path

    def _get_deploy_tasks(self) -> Any:
        if self._attached or self._deploy is None:
            return None
        return self._launch

    def _deployer(self, model: str) -> Deployer:
        method = self._deploy
        if isinstance(method, Deployer):
            dep = copy.copy(method)
        else:
            args = {k: v for k, v in _plain(self._deploy_args).items() if k != "url"}
            if method is Auto:
                args["kind"] = self.kind
            dep = method(**args)
        if isinstance(dep, Auto):
            dep = dep.resolve(model)
        if self.kind not in dep.serves:
            raise ConfigError(f"deploy.{dep.name} does not serve {self.kind} models; use "
                              f"{'al.deploy.embedding' if self.kind != 'llm' else 'al.deploy.llamacpp'}")
        if self._trust_remote_code and dep.takes_trust_remote_code:
            dep.options.setdefault("trust_remote_code", True)
        if dep.served_name is None and self.base_name:
            name = self.base_name
            canonical = next((k for k in KNOWN_MODELS if k.lower() == name.lower()), None)
            dep.served_name = canonical or Path(name).name
        return dep

    async def _launch(self) -> None:
        if self._engine is not None and self._engine.status() is EngineStatus.RUNNING:
            return
        needs_model = not (self._deploy is Dummy or isinstance(self._deploy, Dummy))
        if needs_model and not self.base_name and not self._finetuned_path:
            raise ConfigError("TrainableModule() has no base model to deploy: pass one, e.g. "
                              "TrainableModule('SmolLM2-135M-Instruct'), or deploy_method(al.deploy.dummy)")
        model, unresolved = self.deploy_model() if needs_model else (
            self._finetuned_path or self.base_name or "dummy", None)
        from ..launchers.jobs import is_remote

        with _prefer(unresolved):
            if (hub := self._hub_name(unresolved)) is not None and needs_model:
                if not (self._deploy is Auto or isinstance(self._deploy, Auto)):
                    # A named engine that is missing says so before a long download, not after.
                    first = self._deployer(model)
                    if first.url is None and not is_remote(first.launcher):
                        first.check_available()
                    fetch = first.url is None and not is_remote(first.launcher)
                else:
                    fetch = not is_remote(self._deploy_args.get("launcher"))
                if fetch:
                    model, unresolved = await self._fetch(hub), None
            dep = self._deployer(model)
            if unresolved is not None and looks_like_path(model) and dep.url is None and not is_remote(dep.launcher):
                # A path that does not exist here, for an engine that runs here: do not start it.
                dep.check_available()
                raise unresolved
            self._engine = await dep.launch(model)
        self._ever_started = True
        log.info("deploy.%s serving %s at %s (log: %s)", dep.name, model, self._engine.base_url, self._engine.log_path)

    async def _stop_impl(self) -> None:
        if self._engine is not None and not self._attached:
            engine, self._engine = self._engine, None
            await engine.stop()

    async def _wait_impl(self) -> None:
        if self._engine is not None:
            await self._engine.wait()

    # -- named fine-tune tasks (the seed's ``_async_finetune`` / ``status(name)`` / ``stop(name)``) --

    async def start_task(self, name: str, tg: TaskGroup, overrides: dict[str, Any]) -> None:
        if not name or not isinstance(name, str):
            raise ConfigError(f"a fine-tune task needs a name (a non-empty string), got {name!r}")
        old = self._tasks.get(name)
        if old is not None and not old.status.finished:
            raise ConfigError(f"a fine-tune task named {name!r} is running: stop('{name}') it or pick another name")
        if self._train_method()[0] is None:
            raise ConfigError("no fine-tune method is set: finetune_method(al.finetune.X, ...) first")
        task = _Task(name)
        self._tasks[name] = task
        await tg.start(task.run, lambda: self._run_train(overrides))

    def task(self, name: str, verb: str) -> _Task:
        task = self._tasks.get(name)
        if task is None:
            started = ", ".join(self._tasks) or "none"
            raise LifecycleError(f"cannot {verb} task {name!r}: no fine-tune task of that name was started "
                                 f"(started: {started}); start one with finetune_task({name!r}, task_group)")
        return task

    def status(self) -> EngineStatus:
        if self._engine is None:
            return EngineStatus.STOPPED if self._ever_started else EngineStatus.NOT_STARTED
        return self._engine.status()

    def require_engine(self, who: str) -> EngineHandle:
        if self._engine is None:
            raise LifecycleError(f"{who} has no engine running: `await m.start()` it first (or attach with "
                                 "deploy_method(al.deploy.X, url=...))")
        return self._engine

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # A copy (a trial) deploys its own engine; it never owns (or copies) the original's process,
        # nor its running fine-tune tasks.
        engine, tasks = self.__dict__["_engine"], self.__dict__["_tasks"]
        if not self._attached:
            self.__dict__["_engine"] = None
        self.__dict__["_tasks"] = {}
        try:
            new = super().__deepcopy__(memo)
        finally:
            self.__dict__["_engine"], self.__dict__["_tasks"] = engine, tasks
        if not new._attached:
            new.__dict__["_deployed"] = False
        return new
