"""ServerOptions and CallerPolicy: validated once, carried whole to every launcher, shared by copies."""

from __future__ import annotations

import copy

import pytest
import serving_targets as t

import asyncllm as al
from asyncllm.serving import ServerModule


def test_bad_settings_are_config_errors_that_name_the_fix() -> None:
    for kw, fragment in (({"port": -1}, "port=-1"), ({"header_timeout": 0}, "header_timeout"),
                         ({"max_connections": 0}, "max_connections"), ({"caller": {"params": ["x"]}}, "CallerPolicy")):
        with pytest.raises(al.ConfigError, match=fragment):
            al.ServerOptions(**kw)
    with pytest.raises(al.ConfigError, match=r"unknown server option.*request_timeout"):
        ServerModule(t.double, request_timeot=3)  # a typo names the valid fields
    with pytest.raises(al.ConfigError, match="params="):
        al.CallerPolicy(params="temperature")  # a bare string is not a set of names
    with pytest.raises(al.ConfigError, match="caps="):
        al.CallerPolicy(caps={"max_tokens": -1})


def test_options_travel_whole_and_keep_the_key_out_of_reprs() -> None:
    policy = al.CallerPolicy(params={"temperature"}, caps={"max_tokens": 100}, file_urls=True)
    options = al.ServerOptions(security_key="sk-secret-key", request_timeout=3, caller=policy)
    assert al.ServerOptions.from_spec(options.to_spec()) == options
    assert policy.caps["max_tokens"] == 100 and policy.caps["n"] == 1  # merged over the defaults
    assert "sk-secret-key" not in repr(options)
    s = ServerModule(t.double, options=options, body_timeout=5)
    assert s.server_options.body_timeout == 5 and s.server_options.caller is policy


def test_a_copied_module_tree_shares_its_immutable_options() -> None:
    s = ServerModule(t.double, caller=al.CallerPolicy(params={"x"}))
    clone = copy.deepcopy(s)  # as TrialModule does for each combination
    assert clone.server_options is s.server_options
