"""Provider error rules: what a provider's error body means when its HTTP status says too little.

The HTTP layer types an error answer by its status (429 → ``RateLimitError``, 403 →
``PermissionDeniedError``, ...). Several providers put the real meaning in the body instead:
GLM answers arrears with 429 and code ``1113``, Ark with 403 ``AccountOverdueError``,
DashScope a content-filter refusal with 400 ``data_inspection_failed``. Read by status alone,
arrears look like a rate limit (retried, and a key pool does not move on) and a refusal like a
malformed request.

Each provider module registers one rule, ``rule(status, body) -> error class | None``, under
its source name. The HTTP layer asks it (:func:`refine_status_error`) before it decides about
retries; providers whose errors arrive in an HTTP-200 body or inside a stream ask it through
:func:`error_for`. The rules themselves live beside each provider, with the source of every
code they know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._exceptions import _BY_STATUS, APIError, APIStatusError, IncompleteOutputError

__all__ = ["ErrorRule", "body_code", "classify", "error_for", "refine_status_error", "register_error_rule"]

# The status each error class stands for, for errors that arrive without one (HTTP-200 bodies).
_STATUS_OF: dict[type[APIError], int] = {}
for _status, _cls in _BY_STATUS.items():
    _STATUS_OF.setdefault(_cls, _status)

#: ``(HTTP status, or None for an error inside an HTTP-200 body or a stream; the parsed body)``
#: → the error class that body means, or None to keep the class the status gives
ErrorRule = Callable[[int | None, Any], type[APIError] | None]

_RULES: dict[str, ErrorRule] = {}

_FILTERED_HINT = "the provider's content filter refused the request; change the input (partial output on .partial)"


def register_error_rule(provider: str, rule: ErrorRule) -> None:
    """Use ``rule`` for errors from ``provider`` (its source name, as passed to the HTTP layer)."""
    _RULES[provider] = rule


def classify(provider: str | None, status: int | None, body: Any) -> type[APIError] | None:
    """The class ``provider``'s rule gives this error body (None: no rule, or no opinion)."""
    rule = _RULES.get(provider or "")
    return rule(status, body) if rule is not None else None


def body_code(body: Any) -> tuple[str, str, str]:
    """``(code, type, message)`` of the OpenAI-style ``{"error": {...}}`` body, the flat
    ``{"code", "message"}`` one (DashScope native) or MiniMax's ``base_resp``; ``""`` when absent."""
    if not isinstance(body, dict):
        return "", "", ""
    base = body.get("base_resp")  # MiniMax: {"base_resp": {"status_code", "status_msg"}}
    if isinstance(base, dict) and base.get("status_code"):
        return str(base["status_code"]), "", str(base.get("status_msg") or "")
    err = body.get("error")
    src = err if isinstance(err, dict) else body
    def s(key: str) -> str:
        v = src.get(key)
        return "" if v is None else str(v)
    return s("code"), s("type"), s("message")


def refine_status_error(err: APIStatusError) -> APIError:
    """``err`` retyped by its provider's rule (``err`` itself when the rule agrees or has none).

    The original error stays as ``__cause__``: status, body and request id remain reachable.
    """
    cls = classify(err.provider, err.status_code, err.body)
    if cls is None or isinstance(err, cls):
        return err
    kw: dict[str, Any] = {"provider": err.provider, "model": err.model, "request_id": err.request_id, "url": err.url}
    new: APIError
    if issubclass(cls, IncompleteOutputError):
        new = cls(f"{err} — {_FILTERED_HINT}", finish_reason="content_filter", partial="", **kw)
    elif issubclass(cls, APIStatusError):
        new = cls(str(err), status_code=err.status_code, body=err.body, retry_after=err.retry_after,
                  error_type=err.error_type, **kw)
    else:
        new = cls(str(err), **kw)
    new.__cause__ = err
    return new


def error_for(provider: str, body: Any, message: str, *, status: int | None = None, model: str | None = None,
              partial: str = "", default: type[APIError] = APIError) -> APIError:
    """The typed error for an error body that came without an error status (an HTTP-200 body or
    a stream frame): the provider's rule picks the class, ``default`` when it has no opinion."""
    cls = classify(provider, status, body) or default
    kw: dict[str, Any] = {"provider": provider, "model": model}
    if issubclass(cls, IncompleteOutputError):
        return cls(f"{message} — {_FILTERED_HINT}", finish_reason="content_filter", partial=partial, **kw)
    if issubclass(cls, APIStatusError):
        code, typ, _ = body_code(body)
        return cls(message, status_code=status or _STATUS_OF.get(cls, 400), body=body, error_type=code or typ or None,
                   **kw)
    return cls(message, **kw)

