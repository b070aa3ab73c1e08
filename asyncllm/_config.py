"""Typed settings: an explicit override, else ``ASYNCLLM_<NAME>``, else ``LAZYLLM_<NAME>`` (the
seed's variables, a documented fallback for every setting), else the registered default.

Every setting is registered once with its type and default (``config.add(name, type, default,
env)``, the seed's call; the built-in ones below), so a value from the environment is
converted to the setting's type, and a bad one is a :class:`ConfigError` naming the variable.
API keys also read the vendor's usual variable (``OPENAI_API_KEY``, ...) and come back as a
:class:`Secret`, whose ``repr``/``str`` never show the value; code that must send the key calls
``secret.get()`` at the last moment (building a header).

::

    from asyncllm import config
    config["default_source"]                     # ASYNCLLM_DEFAULT_SOURCE, LAZYLLM_DEFAULT_SOURCE, None
    config.add("retries", int, 3, "RETRIES")     # ASYNCLLM_RETRIES, then LAZYLLM_RETRIES, as an int
    config.api_key("openai")                     # Secret: ASYNCLLM_OPENAI_API_KEY / OPENAI_API_KEY /
                                                 # LAZYLLM_OPENAI_API_KEY
    with config.override(openai_api_key="sk-…"): # explicit, scoped (a contextvar)
        ...

Settings a user sets most (each also ``config.override(<name>=...)``):

* ``ASYNCLLM_ONLINE_BASE_URL`` — aim every online chat/embedding/rerank module that has no
  explicit ``base_url`` at one OpenAI-compatible endpoint (``http://127.0.0.1:8000/v1/``: a local
  llama.cpp or vLLM, a test double), whatever its ``source``; see ``asyncllm/online/redirect.py``.
* ``ASYNCLLM_PROGRESS`` — ``auto`` (a progress bar on an interactive terminal, plain lines
  otherwise), ``bar``, ``plain`` or ``off``; see ``asyncllm/_progress.py``.
* ``ASYNCLLM_MODEL_PATH`` — directories searched for local models (``trainable/models.py``).
* ``ASYNCLLM_MODEL_SOURCE`` (``huggingface`` or ``modelscope``), ``ASYNCLLM_MODEL_CACHE_DIR``,
  ``ASYNCLLM_MODEL_SOURCE_TOKEN`` — where a model named by its hub id (``Org/name``) is
  downloaded from and to (``trainable/hub.py``); the hub's own ``HF_TOKEN`` / ``HF_ENDPOINT``
  work too.
* ``ASYNCLLM_ALPACA_LORA_DIR`` (a checkout of tloen/alpaca-lora) and ``ASYNCLLM_COLLIE_SCRIPT`` (a
  CoLLiE training script) — what ``finetune.alpacalora`` and ``finetune.collie`` run.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["Config", "Secret", "Setting", "config", "env_names_for_key"]

ENV_PREFIX: Final = "ASYNCLLM_"
SEED_PREFIX: Final = "LAZYLLM_"  # the seed's variables: read when ours are not set

# Well-known vendor variables, read after ASYNCLLM_<SOURCE>_API_KEY.
VENDOR_KEY_ENV: Final[dict[str, tuple[str, ...]]] = {
    "openai": ("OPENAI_API_KEY",),
    "azure": ("AZURE_OPENAI_API_KEY",),
    "claude": ("ANTHROPIC_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "doubao": ("ARK_API_KEY",),
    "glm": ("ZHIPUAI_API_KEY", "ZAI_API_KEY"),
    "kimi": ("MOONSHOT_API_KEY",),
    "minimax": ("MINIMAX_API_KEY",),
    "qwen": ("DASHSCOPE_API_KEY",),
    "sensenova": ("SENSENOVA_API_KEY",),
    "siliconflow": ("SILICONFLOW_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "ollama": ("OLLAMA_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
}

@dataclass(frozen=True)
class Setting:
    """One registered setting: values from the environment are converted with ``type``."""

    name: str
    type: Callable[[str], Any]
    default: Any
    env: str  # read as ASYNCLLM_<env>, then LAZYLLM_<env>


_SETTINGS: dict[str, Setting] = {}


def _register(name: str, type_: Callable[[str], Any], default: Any, env: str | None = None) -> Setting:
    if not isinstance(name, str) or not name.isidentifier():
        from ._exceptions import ConfigError

        raise ConfigError(f"a setting name must be an identifier like 'my_option', got {name!r}")
    setting = Setting(name.lower(), type_, default, (env or name).upper().removeprefix(ENV_PREFIX)
                      .removeprefix(SEED_PREFIX))
    _SETTINGS[setting.name] = setting
    return setting


# The built-in settings (each read where it is used; see the README for what they change).
for _name, _type, _default in (
    ("default_source", str, None),           # the online provider to pick when several keys are set
    ("default_key", str, None),              # the key for default_source
    ("online_base_url", str, None),          # aim every online module at one OpenAI-compatible endpoint
    ("progress", str, "auto"),               # the progress display: auto, bar, plain or off
    ("http_connect_timeout", float, 5.0),
    ("http_first_chunk_timeout", float, 120.0),
    ("http_idle_timeout", float, 120.0),
    ("http_total_timeout", float, 600.0),
    ("http_max_attempts", int, 3),
    ("embed_batch_size", int, 16),
    ("embed_concurrency", int, 4),
    ("finetune_poll_interval", float, 30.0),
    ("deploy_poll_interval", float, 10.0),
    ("gpu", str, ""),                        # force a GPU kind for engine choice ('' = detect)
    ("engine_log_dir", str, ""),             # where engine logs go ('' = a temp folder)
    ("train_target_root", str, ""),          # where fine-tuned models go ('' = ./save_ckpt)
    ("model_path", str, ""),                 # extra folders to look for local models (os.pathsep list)
    ("model_source", str, "huggingface"),    # the hub that models named Org/name come from (or modelscope)
    ("model_cache_dir", str, ""),            # where hub models are downloaded ('' = ~/.asyncllm/model)
    ("model_source_token", str, None),       # the hub token (read as a Secret; else HF_TOKEN etc.)
    ("alpaca_lora_dir", str, ""),            # a checkout of tloen/alpaca-lora, for finetune.alpacalora
    ("collie_script", str, ""),              # a CoLLiE SFT script (LazyLLM's collie/finetune.py flags)
):
    _register(_name, _type, _default)


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
    """The environment variables that may hold ``source``'s API key, in lookup order: ours, the
    vendor's usual one(s), then the seed's ``LAZYLLM_<SOURCE>_API_KEY``."""
    return (f"{ENV_PREFIX}{source.upper()}_API_KEY", *VENDOR_KEY_ENV.get(source, ()),
            f"{SEED_PREFIX}{source.upper()}_API_KEY")


_NO_OVERRIDES: Mapping[str, Any] = {}
_overrides: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "asyncllm_config", default=_NO_OVERRIDES
)


def _coerce(raw: str, type_: Callable[[str], Any]) -> Any:
    if type_ is bool:
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(raw)
    return type_(raw)


class Config:
    """Settings lookup (see the module docstring); ``config[name]`` or ``config.get(name)``."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def add(self, name: str, type: Callable[[str], Any], default: Any = None, env: str | None = None) -> None:
        """Register a setting (the seed's ``config.add(name, type, default, env)``): it reads
        ``ASYNCLLM_<env>``, then ``LAZYLLM_<env>`` (``env`` defaults to the name), converted with
        ``type``, else ``default``."""
        if not callable(type):
            from ._exceptions import ConfigError

            raise ConfigError(f"config.add({name!r}, type, ...): type must be a converter such as int, "
                              f"float, bool or str, got {type!r}")
        _register(name, type, default, env)

    def __getitem__(self, name: str) -> Any:
        """A registered setting's value; for ``<source>_api_key``, the key as a :class:`Secret`."""
        key = name.lower()
        if key in _SETTINGS or key in _overrides.get():
            return self.get(key)
        if key.endswith("_api_key"):
            return self.api_key(key.removesuffix("_api_key"))
        raise KeyError(f"unknown setting {name!r}: register it with al.config.add({name!r}, type, default, env)")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in _SETTINGS

    def get(self, name: str, default: Any = None) -> Any:
        name = name.lower()
        over = _overrides.get()
        if name in over:
            return over[name]
        setting = _SETTINGS.get(name)
        env = setting.env if setting is not None else name.upper()
        environ = self.environ
        for prefix in (ENV_PREFIX, SEED_PREFIX):
            raw = environ.get(prefix + env)
            if raw is not None and raw != "":
                break
        else:
            return setting.default if setting is not None else default
        type_: Callable[[str], Any] = setting.type if setting is not None else \
            (type(default) if isinstance(default, (bool, int, float)) else str)
        try:
            return _coerce(raw, type_)
        except (TypeError, ValueError) as exc:
            from ._exceptions import ConfigError

            raise ConfigError(f"{prefix}{env}={raw!r} is not a valid {getattr(type_, '__name__', type_)}; "
                              "fix or unset it") from exc

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
