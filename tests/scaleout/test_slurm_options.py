"""al.launchers.slurm's options and sbatch's refusals, without a cluster: the time limit in
Slurm's own formats (a wrong type is a ConfigError), and an sbatch that cannot reach the
controller is not blamed on the launcher's options."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from asyncllm import launchers
from asyncllm._exceptions import ConfigError, LifecycleError
from asyncllm.launchers import CommandSpec
from asyncllm.launchers._slurm_cmd import parse_time_limit


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("01:00:00", 3600), ("90", 5400), ("5:30", 330), ("1-12", 129600), ("1-12:30", 131400),
        ("2-00:00:10", 172810), (" 10 ", 600), (3600, 3600), (1.5, 1.5),
    ],
)
def test_time_takes_seconds_or_slurm_formats(value: object, seconds: float) -> None:
    assert parse_time_limit(value) == seconds
    assert launchers.slurm(partition="gpu", time=value).time == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "1:2:3:4", "1h", "-5", "1-2:3:4:5", "a-1", "0", "00:00:00", 0, -1,
                                   float("nan"), float("inf")])
def test_a_bad_time_names_the_accepted_formats(value: object) -> None:
    with pytest.raises(ConfigError, match=r"HH:MM:SS"):
        launchers.slurm(time=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, [60], {"h": 1}, b"01:00:00"])
def test_a_wrong_type_of_time_is_a_config_error(value: object) -> None:
    with pytest.raises(ConfigError, match=r"time takes seconds .* got "):
        launchers.slurm(time=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("option", ["poll_interval", "start_timeout", "stop_timeout"])
@pytest.mark.parametrize("value", [0, -1.0, float("nan")])
def test_a_duration_must_be_positive_seconds(option: str, value: float) -> None:
    # poll_interval=0 would run scontrol in a busy loop; the same rule as ray(start_timeout=...).
    with pytest.raises(ConfigError, match=rf"^{option} must be a positive number of seconds, got "):
        launchers.slurm(**{option: value})
    with pytest.raises(ConfigError, match=r"^start_timeout must be a positive number of seconds"):
        launchers.ray(start_timeout=value)


@pytest.mark.parametrize(("option", "least"), [("nodes", 1), ("ngpus", 0)])
def test_a_count_below_its_least_is_a_config_error(option: str, least: int) -> None:
    with pytest.raises(ConfigError, match=rf"^{option} must be >= {least}, got {least - 1}$"):
        launchers.slurm(**{option: least - 1})


def _fake_sbatch(tmp_path: Path, message: str) -> str:
    tool = tmp_path / "sbatch"
    tool.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return str(tool)


@pytest.mark.anyio
async def test_an_unreachable_controller_is_not_blamed_on_the_options(tmp_path: Path) -> None:
    sbatch = _fake_sbatch(tmp_path, "sbatch: error: Batch job submission failed: Unable to contact slurm "
                                    "controller (connect failure)")
    launcher = launchers.slurm(partition="gpu", time="01:00:00", sbatch=sbatch, workdir=str(tmp_path))
    with pytest.raises(LifecycleError, match=r"could not reach the Slurm controller.*scontrol ping") as info:
        await launcher.launch(CommandSpec(["true"], name="nothing"))
    assert "check partition=" not in str(info.value)


@pytest.mark.anyio
async def test_a_refused_option_still_names_the_options(tmp_path: Path) -> None:
    sbatch = _fake_sbatch(tmp_path, "sbatch: error: invalid partition specified: nosuch")
    launcher = launchers.slurm(partition="nosuch", sbatch=sbatch, workdir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"invalid partition.*check partition="):
        await launcher.launch(CommandSpec(["true"], name="nothing"))
