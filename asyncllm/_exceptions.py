"""The whole asyncllm error tree, in one place.

Every error the library raises on purpose derives from :class:`AsyncLLMError`. Foreign
exceptions (httpx, anyio, OS errors) are mapped into this tree where they cross into the
library, and the original is always kept as ``__cause__``. Cancellation is never wrapped.

::

    AsyncLLMError
    ├── ConfigError                 bad argument / missing setting; message names the fix
    │   ├── MissingDependencyError  an optional extra is not installed; names the pip command
    │   └── ModelDownloadError      a hub model could not be fetched; names the fix
    │       ├── ModelHubUnreachableError  offline, hub down, or the endpoint is wrong (HF_ENDPOINT)
    │       ├── ModelNotFoundError        no such repository / revision / file (or private: a token)
    │       └── ModelAccessError          gated or private: the token is missing or not allowed
    ├── ModuleExecutionError        a module's forward failed; names the module, keeps the cause
    │   └── FlowError               a plain-callable flow item failed; names the flow and the item
    ├── HookError                   a 'raise'-mode hook failed in some phase
    ├── LifecycleError              start/update/stop failed (deploy, train, eval tasks)
    │   └── EngineStartError        an engine process did not become ready; carries the log tail
    │       └── ResourcesUnavailableError  a cluster cannot place what a launcher asked for
    ├── StreamError                 misuse of a Stream (consumed twice, not entered, ...)
    ├── OutputValidationError       a model's answer did not match output_type after the re-asks
    └── APIError                    an HTTP peer answered badly or not at all
        ├── APIConnectionError      could not connect / connection dropped
        │   ├── ProxyError          the proxy could not be reached or refused (407: credentials)
        │   └── TLSError            the TLS handshake failed (certificate check, client certificate)
        ├── APITimeoutError         connect, first-chunk, idle-chunk or total deadline
        ├── ProtocolError           malformed frame / body from the peer
        ├── APIStatusError          non-2xx answer; carries status, request id, retry-after
        │   ├── BadRequestError         400 / 422
        │   ├── AuthenticationError     401
        │   ├── PermissionDeniedError   403
        │   ├── NotFoundError           404
        │   ├── ConflictError           409
        │   ├── RateLimitError          429
        │   │   └── QuotaExceededError  429/402 whose body says the balance/quota is gone
        │   ├── InternalServerError     500
        │   └── ProviderOverloadedError 502 / 503 / 504 / 529
        └── IncompleteOutputError   finish_reason length / content_filter; keeps partial output
            └── ContentFilteredError
"""

from __future__ import annotations

from typing import Any

# The public error tree: ``asyncllm/__init__.py`` re-exports exactly this list (one list, not a
# copy kept in step by hand). ConflictError, InternalServerError and status_error_class are
# importable from here but not part of the top-level surface (tests/test_public_api.py pins it).
__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncLLMError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigError",
    "ContentFilteredError",
    "EngineStartError",
    "FlowError",
    "HookError",
    "IncompleteOutputError",
    "LifecycleError",
    "MissingDependencyError",
    "ModelAccessError",
    "ModelDownloadError",
    "ModelHubUnreachableError",
    "ModelNotFoundError",
    "ModuleExecutionError",
    "NotFoundError",
    "OutputValidationError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProviderOverloadedError",
    "ProxyError",
    "QuotaExceededError",
    "RateLimitError",
    "ResourcesUnavailableError",
    "StreamError",
    "TLSError",
]


class AsyncLLMError(Exception):
    """Root of every error asyncllm raises on purpose."""


class ConfigError(AsyncLLMError, ValueError):
    """A bad argument or a missing setting. The message says what to change."""


class MissingDependencyError(ConfigError, ImportError):
    """An optional dependency is missing; the message names the install command."""

    def __init__(self, package: str, extra: str, purpose: str = "", *, how: str | None = None) -> None:
        self.package = package
        self.extra = extra
        why = f" (needed for {purpose})" if purpose else ""
        if how is None:
            how = (
                f"install it with: pip install 'asyncllm[{extra}]'"
                if extra
                else "it is not on PyPI: install it from its source checkout (pip install <path>)"
            )
        super().__init__(f"{package!r} is not installed{why}; {how}")


class ModelDownloadError(ConfigError):
    """A model named by its hub id (``Org/name``) could not be downloaded. ``repo`` and ``source``
    say which; the message names the fix (a token, the endpoint, a local path). Never holds a token."""

    def __init__(self, message: str, *, repo: str = "", source: str = "") -> None:
        super().__init__(message)
        self.repo = repo
        self.source = source


class ModelHubUnreachableError(ModelDownloadError):
    """The hub could not be reached: no network, the hub is down, or ``HF_ENDPOINT`` is wrong."""


class ModelNotFoundError(ModelDownloadError):
    """The hub has no such repository, revision or file (a private one also looks like this
    without a token)."""


class ModelAccessError(ModelDownloadError):
    """The repository is gated or private and the token is missing or not granted access."""


class WireError(ConfigError, TypeError):
    """A value cannot be sent as JSON: a served module's argument or result (not JSON and not a
    tagged asyncllm type), or a request body for a provider or engine. Re-exported by
    ``asyncllm.serving``."""


class ModuleExecutionError(AsyncLLMError):
    """A module's ``forward`` raised. ``module`` names it; ``__cause__`` is the original error."""

    def __init__(self, message: str, *, module: str = "") -> None:
        super().__init__(message)
        self.module = module


class FlowError(ModuleExecutionError):
    """A plain-callable item of a flow raised; ``__cause__`` is the original error.

    A ModuleExecutionError too, so ``except ModuleExecutionError`` catches every failure of
    user code, whether it ran as a module or as a function inside a flow.
    """

    def __init__(self, message: str, *, flow: str = "", item: str = "") -> None:
        super().__init__(message, module=flow)
        self.flow = flow
        self.item = item


class HookError(AsyncLLMError):
    """A hook in ``'raise'`` error mode failed during ``phase``."""

    def __init__(self, message: str, *, phase: str = "") -> None:
        super().__init__(message)
        self.phase = phase


class LifecycleError(AsyncLLMError):
    """A lifecycle step (train, deploy, eval, stop) failed."""


class EngineStartError(LifecycleError):
    """An engine or server process did not become ready. ``log_tail`` holds its last output."""

    def __init__(self, message: str, *, log_tail: str = "", log_path: str | None = None) -> None:
        full = message
        if log_tail:
            full = f"{message}\n--- last lines of {log_path or 'the log'} ---\n{log_tail}"
        super().__init__(full)
        self.log_tail = log_tail
        self.log_path = log_path


class ResourcesUnavailableError(EngineStartError):
    """A launcher asked a cluster for more than it can place (CPUs, GPUs per replica, actor or
    job). ``requested`` and ``available`` hold what was asked and what the cluster had, by
    resource name (``{"CPU": 2.0}``); the message says what to change."""

    def __init__(self, message: str, *, requested: dict[str, float] | None = None,
                 available: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.requested = dict(requested or {})
        self.available = dict(available or {})


class StreamError(AsyncLLMError):
    """A Stream was used wrongly (iterated twice, closed, ...)."""


class OutputValidationError(AsyncLLMError):
    """A model's answer did not match the ``output_type`` asked for, even after re-asking with the
    validation error. ``raw`` is the last answer, ``errors`` what was wrong with it."""

    def __init__(self, message: str, *, raw: str = "", errors: str = "", attempts: int = 1) -> None:
        super().__init__(message)
        self.raw = raw
        self.errors = errors
        self.attempts = attempts


class APIError(AsyncLLMError):
    """An HTTP peer (provider, engine, served module) failed us.

    Carries what is known about the request; never the API key.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        request_id: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.request_id = request_id
        self.url = url


class APIConnectionError(APIError):
    """Could not connect, or the connection broke before an answer was complete.

    ``after_send`` is True when the request may have reached the peer (the connection broke
    after it was sent), so it may have run: a request that may not run twice is not retried.
    """

    def __init__(self, message: str, *, after_send: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.after_send = after_send


class ProxyError(APIConnectionError):
    """The proxy could not be reached, or refused to forward the request.

    ``status_code`` is the proxy's answer (407: it wants credentials, 403: its policy says no), or
    None when it could not be reached. Retried only when it could not be reached or answered 5xx.
    """

    def __init__(self, message: str, *, status_code: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.status_code = status_code


class TLSError(APIConnectionError):
    """The TLS handshake failed: the server's certificate is not trusted, or the server wants a
    client certificate. The message names the setting (``verify=``, ``cert=``). Never retried."""


class APITimeoutError(APIError):
    """A deadline passed. ``kind`` is 'connect', 'first_chunk', 'idle', 'total' or 'read'."""

    def __init__(self, message: str, *, kind: str = "total", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.kind = kind


class ProtocolError(APIError):
    """The peer sent something that does not follow its wire format."""


class APIStatusError(APIError):
    """The peer answered with a non-2xx status.

    ``should_retry`` is the peer's own ``x-should-retry`` header (True / False), or None when it
    sent none; when given it decides whether the request is repeated.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        retry_after: float | None = None,
        error_type: str | None = None,
        should_retry: bool | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.status_code = status_code
        self.body = body
        self.retry_after = retry_after
        self.error_type = error_type
        self.should_retry = should_retry


class BadRequestError(APIStatusError):
    """400/422: the request was invalid."""


class AuthenticationError(APIStatusError):
    """401: the key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: unknown model or path."""


class ConflictError(APIStatusError):
    """409."""


class RateLimitError(APIStatusError):
    """429: slow down; ``retry_after`` holds the server's hint when it sent one."""


class QuotaExceededError(RateLimitError):
    """The account's balance or quota is used up; retrying will not help."""


class InternalServerError(APIStatusError):
    """500."""


class ProviderOverloadedError(APIStatusError):
    """502/503/504/529: the provider is overloaded or down."""


class IncompleteOutputError(APIError):
    """The model stopped early (``finish_reason`` 'length' or 'content_filter').

    ``partial`` holds what was produced before it stopped.
    """

    def __init__(self, message: str, *, finish_reason: str, partial: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.finish_reason = finish_reason
        self.partial = partial


class ContentFilteredError(IncompleteOutputError):
    """The provider's content filter stopped the output."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: QuotaExceededError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
    500: InternalServerError,
    502: ProviderOverloadedError,
    503: ProviderOverloadedError,
    504: ProviderOverloadedError,
    529: ProviderOverloadedError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The error class for an HTTP status (falls back to :class:`APIStatusError`)."""
    cls = _BY_STATUS.get(status_code)
    if cls is not None:
        return cls
    if status_code >= 500:
        return InternalServerError
    return APIStatusError
