"""Project gates: ``nox -s tests lint bench demo`` (``nox -l`` lists them).

tests  pytest on asyncio and trio, warnings as errors (the extras the suite needs: ``.[test]``, plus
       the SenseNova SDK installed without its dependencies: see the session)
lint   ruff over the package, tests and benchmarks; mypy --strict over the package
bench  every script in benchmarks/ (each prints ratios to a floor measured in the same run)
demo   the main job: ``asyncllm demo``
scaleout  Ray + Slurm tests on real engines (root: installs slurm-wlm/munge, starts a one-node
          loopback Slurm cluster, runs tests/scaleout, tears it down): scripts/ci_scaleout.sh
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    # The SenseNova SDK, oracle of tests/conformance/test_sensenova_sdk.py: its PyJWT==2.6.0 pin
    # conflicts with zhipuai's, and its one JWT call works with the PyJWT the extra resolves.
    session.install("--no-deps", "sensenova==1.0.6")
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]))


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("ruff", "check", "asyncllm", "tests", "benchmarks", "noxfile.py")
    # The optional engine stacks (torch, transformers, peft, gguf, numpy) are not installed in
    # the lint venv; the subprocess workers that import them lazily are still type-checked.
    session.run("mypy", "asyncllm")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    scripts = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))
    for script in scripts:
        session.run("python", str(script), *session.posargs)


@nox.session
def scaleout(session: nox.Session) -> None:
    session.install("-e", ".[test]")  # the test extra includes ray[serve]
    python = str(Path(session.virtualenv.location) / "bin" / "python")
    session.run("bash", str(ROOT / "scripts" / "ci_scaleout.sh"), *session.posargs, env={"PYTHON": python},
                external=True)


@nox.session
def demo(session: nox.Session) -> None:
    session.install("-e", ".")
    session.run("asyncllm", "demo", *session.posargs)
