"""Missing-engine errors name a fix that exists: an extra for PyPI engines, a source install otherwise."""

from __future__ import annotations

import importlib.util

import pytest

import asyncllm as al
from asyncllm.deploy.lightllm import LightLLM
from asyncllm.deploy.vllm import Vllm


@pytest.mark.skipif(importlib.util.find_spec("lightllm") is not None, reason="lightllm is installed here")
def test_lightllm_is_not_on_pypi_so_no_extra_is_named() -> None:
    with pytest.raises(al.MissingDependencyError) as info:
        LightLLM.check_available()
    assert "asyncllm[" not in str(info.value)
    assert "source" in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_names_its_extra() -> None:
    with pytest.raises(al.MissingDependencyError, match=r"pip install 'asyncllm\[vllm\]'"):
        Vllm.check_available()
