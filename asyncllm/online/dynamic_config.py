"""Per-task model choice for the dynamic routers: which source/model/endpoint a call uses.

The choice lives in the ``dynamic_model_configs`` setting, scoped like every
``al.config.override(...)``: to the current task and the tasks it starts, restored on exit, never
process-global. Its shape is ``{slot: {target: {source, model, base_url, skip_auth}}}`` with slot
``chat`` / ``embed`` / ``rerank`` / ``multimodal_embed`` and target a module id, a module name or
``"default"``; a router takes the most specific entry (id, then name, then default)::

    with al.dynamic_chat_config(source="openai", model="gpt-4o-mini"):          # every router
        with al.dynamic_chat_config(["writer"], source="claude"):              # the one named "writer"
            await router(x)

On exit the previous setting comes back as it was: entries the block added are gone, entries it
replaced are restored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .._config import config
from .._exceptions import ConfigError
from ..modules.base import ModuleBase

__all__ = ["SLOTS", "DynamicModelConfig", "dynamic_chat_config", "dynamic_embed_config", "model_config_for"]

SETTING = "dynamic_model_configs"
SLOTS = ("chat", "embed", "rerank", "multimodal_embed")

Targets = str | ModuleBase | Iterable[str | ModuleBase] | None


@dataclass(frozen=True, slots=True)
class DynamicModelConfig:
    """What one router call uses: the provider ``source``, and optionally ``model``, ``base_url``
    and ``skip_auth`` (no key sent, for a local server)."""

    source: str
    model: str | None = None
    base_url: str | None = None
    skip_auth: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise ConfigError(f"a dynamic model config needs source='<provider>', got {self.source!r}")
        if self.source.lower() == "dynamic":
            raise ConfigError("a dynamic model config must name a real provider, not 'dynamic'")

    @classmethod
    def of(cls, value: Any) -> DynamicModelConfig:
        if isinstance(value, DynamicModelConfig):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"source", "model", "base_url", "url", "skip_auth"}
            if unknown:
                raise ConfigError(f"unknown keys {sorted(unknown)} in a dynamic model config; "
                                  "use source, model, base_url, skip_auth")
            return cls(str(value.get("source") or ""), value.get("model"),
                       value.get("base_url") or value.get("url"), bool(value.get("skip_auth", False)))
        raise ConfigError(f"a dynamic model config is a dict {{source, model, base_url, skip_auth}}, got {value!r}")


def _targets(modules: Targets) -> list[str]:
    if modules is None:
        return ["default"]
    items: Iterable[str | ModuleBase] = [modules] if isinstance(modules, (str, ModuleBase)) else modules
    out = [m.id if isinstance(m, ModuleBase) else m for m in items]
    if not out or not all(isinstance(t, str) and t for t in out):
        raise ConfigError("modules= takes a module, a module id or name, or a list of them (None: every module)")
    return out


def _check_source(slot: str, source: str) -> None:
    from . import _load_providers
    from ._registry import CHAT, EMBED

    _load_providers()
    known = sorted(CHAT) if slot == "chat" else sorted(s for (k, s) in EMBED if k == slot)
    if source.lower() not in known:
        raise ConfigError(f"unknown {slot} source {source!r} for a dynamic config; known: {known}")


@contextlib.contextmanager
def _scoped(slot: str, modules: Targets, cfg: DynamicModelConfig) -> Iterator[None]:
    _check_source(slot, cfg.source)
    current = _all_configs()
    bucket = dict(current.get(slot) or {})
    if "source" in bucket:  # a flat {source, ...} set through config.override is the default entry
        bucket = {"default": bucket}
    bucket.update(dict.fromkeys(_targets(modules), cfg))
    # A new mapping in a new override: the exit restores the old one as it was, so entries this
    # block added disappear with it.
    with config.override(**{SETTING: {**current, slot: bucket}}):
        yield


def dynamic_chat_config(modules: Targets = None, *, source: str, model: str | None = None, base_url: str | None = None,
                        skip_auth: bool = False) -> contextlib.AbstractContextManager[None]:
    """Within the block (and tasks started in it), chat routers (``OnlineChatModule(source="dynamic")``)
    named by ``modules`` (ids, names or modules; None: all) call ``source``/``model``/``base_url``."""
    return _scoped("chat", modules, DynamicModelConfig(source, model, base_url, skip_auth))


def dynamic_embed_config(modules: Targets = None, *, source: str, model: str | None = None,
                         base_url: str | None = None, skip_auth: bool = False,
                         type: str = "embed") -> contextlib.AbstractContextManager[None]:
    """As :func:`dynamic_chat_config`, for embedding routers; ``type="rerank"`` for rerank routers,
    ``type="multimodal_embed"`` for multimodal embedding routers."""
    if type not in SLOTS[1:]:
        raise ConfigError(f"dynamic_embed_config(type=...) is one of {SLOTS[1:]}, got {type!r}")
    return _scoped(type, modules, DynamicModelConfig(source, model, base_url, skip_auth))


def _all_configs() -> Mapping[str, Any]:
    value = config.get(SETTING)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"the {SETTING!r} setting must be a dict {{slot: {{module id|name|'default': "
                          f"{{source, model, base_url, skip_auth}}}}}}, got {type(value).__name__}")
    return value


def model_config_for(slot: str, module_id: str, module_name: str | None) -> DynamicModelConfig | None:
    """The config a router with this id/name uses in the current task (None when none is set)."""
    bucket = _all_configs().get(slot)
    if not bucket:
        return None
    if "source" in bucket:
        return DynamicModelConfig.of(bucket)
    for target in (module_id, module_name, "default"):
        if target is not None and target in bucket:
            return DynamicModelConfig.of(bucket[target])
    return None
