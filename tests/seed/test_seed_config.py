"""``al.config`` as the seed has it: ``config.add(name, type, default, env)``, ``config[name]``,
and the ``LAZYLLM_*`` variables as a fallback for every setting, API keys included."""

from __future__ import annotations

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY, key_tag

import asyncllm as al


def test_add_reads_ours_then_the_seeds_variable_then_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    al.config.add("seed_retries", int, 3, "SEED_RETRIES")
    assert al.config["seed_retries"] == 3
    monkeypatch.setenv("LAZYLLM_SEED_RETRIES", "7")
    assert al.config["seed_retries"] == 7  # converted to the setting's type
    monkeypatch.setenv("ASYNCLLM_SEED_RETRIES", "5")
    assert al.config["seed_retries"] == 5  # ours first
    monkeypatch.setenv("ASYNCLLM_SEED_RETRIES", "many")
    with pytest.raises(al.ConfigError, match="ASYNCLLM_SEED_RETRIES='many' is not a valid int"):
        al.config["seed_retries"]
    al.config.add("seed_flag", bool, False)  # env defaults to the name
    monkeypatch.setenv("LAZYLLM_SEED_FLAG", "on")
    assert al.config["seed_flag"] is True and "seed_flag" in al.config
    with al.config.override(seed_flag=False):
        assert al.config["seed_flag"] is False


def test_unknown_settings_say_how_to_register_them() -> None:
    with pytest.raises(KeyError, match=r"al.config.add\('no_such_setting'"):
        al.config["no_such_setting"]
    with pytest.raises(al.ConfigError, match="converter"):
        al.config.add("bad_setting", "int", 1)  # type: ignore[arg-type]


def test_builtin_settings_fall_back_to_the_seeds_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAZYLLM_EMBED_BATCH_SIZE", "32")
    assert al.config["embed_batch_size"] == 32
    monkeypatch.setenv("LAZYLLM_OPENAI_API_KEY", "sk-from-lazyllm")
    key = al.config["openai_api_key"]
    assert isinstance(key, al.Secret) and key.get() == "sk-from-lazyllm" and "sk-" not in repr(key)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-vendor")
    assert al.config["openai_api_key"].get() == "sk-vendor"  # the vendor's variable comes first


@pytest.mark.anyio
async def test_a_lazyllm_key_reaches_the_provider(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAZYLLM_OPENAI_API_KEY", DEFAULT_KEY)
    chat = al.OnlineChatModule(source="openai", base_url=fake + "/v1/", stream=False)
    assert await chat("hi") == "fake reply to: hi"
    assert fake.state.requests[-1]["key"] == key_tag(DEFAULT_KEY)
