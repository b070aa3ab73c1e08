"""The Ray and Slurm served forms apply the same caller policy as a local server (they serve
the same app, built in the replica or job from the same ServerOptions): a caller cannot set
parameters or name server files unless the server opened them. The Slurm job also runs our
hypercorn, so its body deadline holds there too (Ray's proxy owns its sockets)."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from slurm_check import slurm_skip_reason

import asyncllm as al
from asyncllm import launchers
from asyncllm.serving import ServerModule

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300), pytest.mark.usefixtures("pools"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

KEY = "sk-scaleout-policy-0123456789"


async def _attacks(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {KEY}"}, timeout=30,
                                 trust_env=False) as c:
        r = await c.post("/generate", json={"args": [1], "kwargs": {"base_url": "http://127.0.0.1:9/v1/"}})
        assert r.status_code == 403 and r.json()["error"]["type"] == "ParameterNotAllowed", r.text
        r = await c.post("/generate", json={"args": [1], "kwargs": {"lazyllm_files": ["/etc/passwd"]}})
        assert r.status_code == 403 and r.json()["error"]["type"] == "FilePathNotAllowed", r.text
        r = await c.post("/generate", json={"args": [{"__asyncllm__": "kwargs", "value": {"api_key": "x"}}]})
        assert r.status_code == 403, r.text
        r = await c.post("/generate", json={"args": [1], "kwargs": {"lang": "en"}})
        assert r.json()["output"] == {"x": 1, "kw": {"lang": "en"}}  # what the server opened passes


@pytest.mark.ray
async def test_ray_served_module_applies_the_caller_policy(ray_local: Any) -> None:
    s = ServerModule("scaleout_targets:echo_kw", launcher=launchers.ray(num_cpus=0.25), security_key=KEY,
                     caller=al.CallerPolicy(params={"lang"}))
    async with s:
        await _attacks(s.url)


@pytest.mark.slurm
async def test_slurm_served_module_applies_the_caller_policy_and_deadlines() -> None:
    if (why := slurm_skip_reason()) is not None:
        pytest.skip(why)
    s = ServerModule("scaleout_targets:echo_kw", launcher=launchers.slurm(partition="debug", time=300),
                     security_key=KEY, caller=al.CallerPolicy(params={"lang"}), body_timeout=1.5)
    async with s:
        await _attacks(s.url)
        host, port = s.url.removeprefix("http://").rsplit(":", 1)
        async with await anyio.connect_tcp(host, int(port)) as conn:
            await conn.send(b"POST /generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                            b"authorization: Bearer " + KEY.encode() + b"\r\ncontent-length: 100\r\n\r\n")
            answer = b""
            with anyio.fail_after(10):
                while True:
                    try:
                        answer += await conn.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        break
        assert b" 408 " in answer
