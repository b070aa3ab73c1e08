"""The curated public surface: every exported name resolves, and importing stays cheap."""

from __future__ import annotations

import subprocess
import sys

import asyncllm as al


def test_every_exported_name_resolves() -> None:
    missing = [name for name in al.__all__ if getattr(al, name, None) is None]
    assert missing == []


def test_import_does_not_load_heavy_dependencies() -> None:
    code = (
        "import sys, asyncllm;"
        "heavy = [m for m in ('starlette', 'hypercorn', 'httpx', 'aiohttp', 'torch', 'ray') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        al.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:  # pragma: no cover - the assertion below documents the failure
        raise AssertionError("al.NoSuchThing should raise AttributeError")


def test_online_routing_names_are_exported_lazily() -> None:
    import asyncllm.online as online

    for name in ("dynamic_chat_config", "dynamic_embed_config", "DynamicChatRouter", "DynamicEmbeddingRouter"):
        assert name in al.__all__ and name in online.__all__
        assert getattr(al, name) is getattr(online, name)


def test_the_version_is_the_one_pyproject_declares() -> None:
    import tomllib
    from pathlib import Path

    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]
    assert al.__version__ == declared
