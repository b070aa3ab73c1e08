"""Typed settings: built-in defaults, then ``ASYNCLLM_*`` environment variables (plus the usual
vendor variables such as ``OPENAI_API_KEY``), then explicit overrides.

Secrets (API keys) are wrapped in :class:`Secret`, whose ``repr``/``str`` never show the value;
code that must send the key calls ``secret.get()`` at the last moment (building a header).

::

    from asyncllm._config import config
    config.get("default_source")                 # ASYNCLLM_DEFAULT_SOURCE, else None
    config.api_key("openai")                      # Secret from ASYNCLLM_OPENAI_API_KEY / OPENAI_API_KEY
    with config.override(openai_api_key="sk-…"):  # explicit, scoped (a contextvar)
        ...

Settings a user sets most (each also ``config.override(<name>=...)``):

* ``ASYNCLLM_ONLINE_BASE_URL`` — aim every online chat/embedding/rerank module that has no
  explicit ``base_url`` at one OpenAI-compatible endpoint (``http://127.0.0.1:8000/v1/``: a local
  llama.cpp or vLLM, a test double), whatever its ``source``; see ``asyncllm/online/redirect.py``.
* ``ASYNCLLM_PROGRESS`` — ``auto`` (a progress bar on an interactive terminal, plain lines
  otherwise), ``bar``, ``plain`` or ``off``; see ``asyncllm/_progress.py``.
* ``ASYNCLLM_MODEL_PATH`` — directories searched for local models (``trainable/models.py``).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = ["Config", "Secret", "config", "env_names_for_key"]

ENV_PREFIX: Final = "ASYNCLLM_"

# Well-known vendor variables, read after ASYNCLLM_<SOURCE>_API_KEY.
VENDOR_KEY_ENV: Final[dict[str, tuple[str, ...]]] = {
    "openai": ("OPENAI_API_KEY",),
    "claude": ("ANTHROPIC_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "doubao": ("ARK_API_KEY",),
    "glm": ("ZHIPUAI_API_KEY", "ZAI_API_KEY"),
    "kimi": ("MOONSHOT_API_KEY",),
    "minimax": ("MINIMAX_API_KEY",),
    "qwen": ("DASHSCOPE_API_KEY",),
    "sensenova": ("SENSENOVA_API_KEY",),
    "siliconflow": ("SILICONFLOW_API_KEY",),
}

DEFAULTS: Final[dict[str, Any]] = {
    "default_source": None,
    "online_base_url": None,
    "progress": "auto",
    "default_key": None,
    "http_connect_timeout": 5.0,
    "http_first_chunk_timeout": 120.0,
    "http_idle_timeout": 120.0,
    "http_total_timeout": 600.0,
    "http_max_attempts": 3,
    "embed_batch_size": 16,
    "embed_concurrency": 4,
    "finetune_poll_interval": 30.0,
    "deploy_poll_interval": 10.0,
}


class Secret:
    """A secret string whose representation is always redacted."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.get()
        if not isinstance(value, str):
            raise TypeError(f"a secret must be a str, got {type(value).__name__}")
        self._value = value

    def get(self) -> str:
        """The real value: call it only where the secret must leave (a request header)."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __copy__(self) -> Secret:
        return self  # immutable: copies (and module deep copies) share it

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> Any:
        raise TypeError("secrets are not picklable (they must not travel over the wire)")


def env_names_for_key(source: str) -> tuple[str, ...]:
    """The environment variables that may hold ``source``'s API key, in lookup order."""
    return (f"{ENV_PREFIX}{source.upper()}_API_KEY", *VENDOR_KEY_ENV.get(source, ()))


_NO_OVERRIDES: Mapping[str, Any] = {}
_overrides: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "asyncllm_config", default=_NO_OVERRIDES
)


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


class Config:
    """Settings lookup: override → ``ASYNCLLM_<NAME>`` → vendor variable (keys) → default."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def get(self, name: str, default: Any = None) -> Any:
        name = name.lower()
        over = _overrides.get()
        if name in over:
            return over[name]
        base = DEFAULTS.get(name, default)
        raw = self.environ.get(ENV_PREFIX + name.upper())
        if raw is None or raw == "":
            return base
        try:
            return _coerce(raw, base)
        except ValueError as exc:
            from ._exceptions import ConfigError

            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {type(base).__name__}; fix or unset it"
            ) from exc

    def api_key(self, source: str) -> Secret | None:
        """``source``'s configured key, or None. Never logs or returns the bare value."""
        over = _overrides.get()
        name = f"{source.lower()}_api_key"
        if over.get(name):
            return Secret(str(over[name]))
        env = self.environ
        for var in env_names_for_key(source.lower()):
            value = env.get(var)
            if value:
                return Secret(value)
        if self.get("default_source") == source.lower() and (dk := self.get("default_key")):
            return Secret(str(dk))
        return None

    def secret(self, name: str) -> Secret | None:
        """Any other secret setting (e.g. ``sensenova_secret_key``)."""
        value = self.get(name)
        return Secret(str(value)) if value else None

    @contextlib.contextmanager
    def override(self, **values: Any) -> Iterator[None]:
        """Set settings for the block (and the tasks it starts), then restore them."""
        token = _overrides.set({**_overrides.get(), **{k.lower(): v for k, v in values.items()}})
        try:
            yield
        finally:
            _overrides.reset(token)

    def __repr__(self) -> str:
        return "<asyncllm Config>"


config = Config()
