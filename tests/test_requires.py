"""``_requires``: the one answer to "which of these import names are missing"."""

from __future__ import annotations

import sys

import pytest

import asyncllm as al
from asyncllm._requires import Requires, missing_imports


def test_missing_imports_names_what_is_not_there_in_order_without_importing() -> None:
    assert missing_imports(["json", "asyncllm_no_such_b", "anyio", "asyncllm_no_such_a"]) == [
        "asyncllm_no_such_b", "asyncllm_no_such_a"]
    assert missing_imports([]) == []
    # ``this`` prints the Zen of Python when imported: found, and still not imported.
    if "this" not in sys.modules:
        assert missing_imports(["this"]) == []
        assert "this" not in sys.modules


def test_requires_is_available_only_when_nothing_is_missing() -> None:
    class Plugin(Requires):
        requires = (("json", "asyncllm_no_such_pkg"), "no-such-pkg", "nosuch")

        @classmethod
        def needed_for(cls) -> str:
            return "the test plug-in"

    assert not Plugin.available()
    with pytest.raises(al.MissingDependencyError, match="no-such-pkg"):
        Plugin.check_available()
    Plugin.requires = (("json",), "json", "")
    assert Plugin.available()
