"""The error a client raises when the module behind a server failed.

:class:`ServedModuleError` is a :class:`~asyncllm.ModuleExecutionError` (so code that
handles a failing local module handles a failing served one the same way) that also says
which error type the server reported and where; its ``__cause__`` is the HTTP status error
(an :class:`~asyncllm.APIStatusError` for the 500) carrying status and body. Protocol problems
(4xx: bad input, wrong key, unknown method) stay the HTTP layer's typed
:class:`~asyncllm.APIStatusError` subclasses.

:class:`ServerLostError` is the other way a served call fails: the process serving it died
mid-call (a Ray Serve replica, a Slurm job), as the launcher's handle can tell.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import APIStatusError, ModuleExecutionError

__all__ = ["ServedModuleError", "ServerLostError", "error_from_body"]


class ServedModuleError(ModuleExecutionError):
    """The served module raised. ``remote_type`` is the server-side exception class name."""

    def __init__(self, message: str, *, module: str = "", remote_type: str = "", url: str = "",
                 status_code: int = 500, remote_traceback: str | None = None) -> None:
        super().__init__(message, module=module)
        self.remote_type = remote_type
        self.url = url
        self.status_code = status_code
        self.remote_traceback = remote_traceback


class ServerLostError(ServedModuleError):
    """The process serving the call died while it ran: a Ray Serve replica (killed, out of
    memory, its node lost) or a Slurm job (cancelled, out of time, its node lost). ``cause``
    says which and why. The call may have run in part; it was not sent again, since a served
    module is not idempotent unless declared so. ``__cause__`` is what the client saw (a bare
    500 from Ray's proxy, a broken connection)."""

    def __init__(self, message: str, *, cause: str, url: str = "", status_code: int = 0) -> None:
        super().__init__(message, remote_type="ServerLost", url=url, status_code=status_code)
        self.cause = cause


def error_from_body(body: Any, url: str, status: int = 500) -> ServedModuleError | None:
    """The typed error for a server error body, or None when the body is not ours."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("type"), str):
        return None
    module = str(err.get("module") or "")
    message = str(err.get("message") or "")
    where = f"{module} (served at {url})" if module else f"the module served at {url}"
    return ServedModuleError(f"{where} failed [{err['type']}]: {message}", module=module,
                             remote_type=err["type"], url=url, status_code=status,
                             remote_traceback=err.get("traceback"))


def served_error(exc: APIStatusError, url: str) -> Exception:
    """Map an HTTP status error from a served module: a 5xx with our body → ServedModuleError."""
    if exc.status_code >= 500:
        mapped = error_from_body(exc.body, url, exc.status_code)
        if mapped is not None:
            return mapped
    return exc
