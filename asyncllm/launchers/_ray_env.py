"""Start or join Ray, keeping a locally started instance entirely on loopback.

``ray.init(_node_ip_address="127.0.0.1")`` alone is *not* enough (Ray 2.60): Ray rewrites a
loopback node address to the "remotely reachable" one (``resolve_ip_for_localhost``, found by a
UDP connect towards 8.8.8.8), so GCS, raylet and workers bind and talk on the machine's primary IP.
A local start therefore also sets, for the processes Ray spawns:

* ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: Ray's "single-node" mode, in which the node IP is
  ``127.0.0.1`` and no outward address probe happens (set only while starting; a later driver
  that joins a remote cluster is unaffected);
* ``RAY_USAGE_STATS_ENABLED=0``: no usage report;
* a dead loopback HTTP proxy (``http_proxy=http://127.0.0.1:9``) for Ray's own daemons only: the
  dashboard process, started even with ``include_dashboard=False``, probes the cloud metadata
  service (169.254.169.254 and a DNS lookup of ``metadata.google.internal``) unconditionally.
  The job's ``runtime_env`` gives workers (tasks, actors, Serve replicas) the caller's original
  proxy settings back.
* (joining) an address on loopback is joined in the same single-node mode, else the driver
  rewrites it to the primary IP as well;
* a worker setup hook that makes Serve replicas bind their inter-deployment gRPC server on
  ``127.0.0.1`` instead of the hard-coded ``[::]``.

A local start runs ``ray.init`` on an :class:`~asyncllm.launchers._ray_thread.OwnerThread` that
lives until ``RayHandle.stop()``: Ray's daemons die with the thread that forked them.

Ray's API is blocking; the ``a*`` functions run it in a worker thread (``anyio.to_thread``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import ipaddress
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from asyncllm._exceptions import ConfigError, MissingDependencyError

from ._ray_thread import OwnerThread

__all__ = [
    "LOOPBACK",
    "RayHandle",
    "astart_ray",
    "import_ray",
    "loopback_daemon_env",
    "serve_http_options",
    "start_ray",
]

LOOPBACK = "127.0.0.1"
# A port nothing listens on (discard): proxied requests fail at once, on loopback.
_DEAD_PROXY = "http://127.0.0.1:9"
_PROXY_KEYS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY")
_SETUP_HOOK = "asyncllm.launchers._ray_env.worker_setup_hook"
_init_lock = threading.Lock()


def import_ray(purpose: str = "the Ray launcher") -> Any:
    """``import ray``, or raise :class:`MissingDependencyError` naming the extra to install.

    Typed ``Any`` on purpose: ray is optional, and its stubs are partial.
    """
    try:
        return importlib.import_module("ray")
    except ImportError as e:
        raise MissingDependencyError("ray", "ray", purpose) from e


def loopback_daemon_env() -> dict[str, str]:
    """Environment for the Ray daemons of a local, loopback-only instance (see module doc)."""
    return {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "http_proxy": _DEAD_PROXY,
        "HTTP_PROXY": _DEAD_PROXY,
        "https_proxy": _DEAD_PROXY,
        "HTTPS_PROXY": _DEAD_PROXY,
        "no_proxy": "127.0.0.1,localhost,::1",
        "NO_PROXY": "127.0.0.1,localhost,::1",
    }


def serve_http_options(port: int, host: str = LOOPBACK, **extra: Any) -> dict[str, Any]:
    """``http_options`` for ``serve.start``: the proxy on ``host:port`` (loopback by default)."""
    return {"host": host, "port": port, **extra}


def worker_setup_hook() -> None:
    """Runs in every Ray worker of a loopback instance: pin Serve's replica gRPC server
    (``replica.py`` binds ``"[::]:0"``) to 127.0.0.1. Harmless where Serve is not used."""
    try:
        replica: Any = importlib.import_module("ray.serve._private.replica")
    except Exception:  # pragma: no cover - serve not installed or moved
        return
    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None or getattr(original, "_asyncllm_loopback", False):
        return

    @functools.wraps(original)
    def add_port(server: Any, address: str) -> Any:
        if address.startswith("[::]:") or address.startswith("0.0.0.0:"):
            address = f"{LOOPBACK}:{address.rsplit(':', 1)[1]}"
        return original(server, address)

    add_port._asyncllm_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = add_port


@contextlib.contextmanager
def _patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _single_node_mode() -> Iterator[None]:
    # ray_constants reads the variable at import time; services.get_node_ip_address reads the
    # module attribute at call time, so patch that too.
    ray_constants: Any = importlib.import_module("ray._private.ray_constants")

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def _is_loopback_address(address: str) -> bool:
    """``127.0.0.1:6379``, ``[::1]:6379``, ``localhost:6379`` (``ray://`` prefix allowed)."""
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class RayHandle:
    """A Ray instance this process started (``owned``) or joined. ``stop()`` shuts Serve and
    Ray down in this process, and for an owned instance that ends all its processes."""

    address: str
    node_ip: str
    owned: bool
    session_dir: str | None = None
    _stopped: bool = field(default=False, repr=False)
    # The thread that forked Ray's daemons (local start): it lives until stop().
    _owner: OwnerThread | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        owner, self._owner = self._owner, None
        try:
            if owner is not None and owner.alive:
                owner.call(self._shutdown)
            else:
                self._shutdown()
        finally:
            if owner is not None:
                owner.close()

    def _shutdown(self) -> None:
        ray = import_ray()
        if not ray.is_initialized():
            return
        if self.owned:
            with contextlib.suppress(Exception):
                importlib.import_module("ray.serve").shutdown()
        ray.shutdown()

    async def astop(self) -> None:
        await anyio.to_thread.run_sync(self.stop)


def _restrict_token_file() -> None:
    # Ray 2.60 writes its cluster auth token to ~/.ray/auth_token with mode 0644.
    path = os.path.expanduser("~/.ray/auth_token")
    with contextlib.suppress(OSError):
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)


def start_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    object_store_memory: int | None = None,
    namespace: str | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    **init_kwargs: Any,
) -> RayHandle:
    """Start a local loopback-only Ray instance (``address=None``) or join ``address``.

    Blocking (a local start takes seconds). If Ray is already initialised in this process the
    existing instance is returned as a non-owned handle. Extra keyword arguments go to
    ``ray.init``.
    """
    ray = import_ray()
    with _init_lock:
        if ray.is_initialized():
            ctx = ray.get_runtime_context()
            return RayHandle(address=ctx.gcs_address, node_ip=ray.util.get_node_ip_address(), owned=False)
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
            **init_kwargs,
        }
        if namespace is not None:
            kwargs["namespace"] = namespace
        if address is not None:
            if num_cpus is not None or num_gpus is not None or object_store_memory is not None:
                raise ConfigError("num_cpus/num_gpus/object_store_memory only apply to a local Ray start")
            kwargs.pop("include_dashboard")
            if runtime_env is not None:
                kwargs["runtime_env"] = dict(runtime_env)
            if _is_loopback_address(address):
                # Without single-node mode the driver rewrites 127.0.0.1 to the primary IP
                # (after a UDP "connect" towards 8.8.8.8) and cannot even reach the GCS.
                with _single_node_mode():
                    ctx = ray.init(address=address, _node_ip_address=LOOPBACK, **kwargs)
            else:
                ctx = ray.init(address=address, **kwargs)
            return RayHandle(
                address=ctx.address_info["gcs_address"],
                node_ip=ctx.address_info["node_ip_address"],
                owned=False,
                session_dir=ctx.address_info.get("session_dir"),
            )

        env = dict(runtime_env or {})
        env_vars = dict(env.get("env_vars") or {})
        # Give the workers back the caller's proxy settings ("" = unset for urllib/httpx/requests).
        for key in _PROXY_KEYS:
            env_vars.setdefault(key, os.environ.get(key, ""))
        env["env_vars"] = env_vars
        env.setdefault("worker_process_setup_hook", _SETUP_HOOK)
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        if num_gpus is not None:
            kwargs["num_gpus"] = num_gpus
        if object_store_memory is not None:
            kwargs["object_store_memory"] = object_store_memory

        def init() -> Any:
            with _patched_environ(loopback_daemon_env()), _single_node_mode():
                return ray.init(_node_ip_address=LOOPBACK, runtime_env=env, **kwargs)

        # Not on the calling thread: that may be a pooled worker thread, retired when idle, and
        # the daemons would die with it (see _ray_thread.py).
        owner = OwnerThread()
        try:
            ctx = owner.call(init)
            _restrict_token_file()
            info = ctx.address_info
            if info["node_ip_address"] != LOOPBACK:  # pragma: no cover - a Ray change we must notice
                owner.call(ray.shutdown)
                raise ConfigError(f"Ray did not stay on loopback (node IP {info['node_ip_address']})")
        except BaseException:
            owner.close()
            raise
        return RayHandle(
            address=info["gcs_address"],
            node_ip=info["node_ip_address"],
            owned=True,
            session_dir=info.get("session_dir"),
            _owner=owner,
        )


async def astart_ray(address: str | None = None, **kwargs: Any) -> RayHandle:
    """:func:`start_ray` in a worker thread."""
    return await anyio.to_thread.run_sync(functools.partial(start_ray, address, **kwargs))
