#!/usr/bin/env bash
# The whole test suite, on a fresh machine: what the README's test command and .ci/run run.
#   1. scripts/setup.sh test       .venv with every extra the tests use (engines, fine-tune, Ray)
#   2. the lint gate               ruff over the package, tests and benchmarks; mypy --strict
#   3. pytest over tests/          everything but the scale-out tests (real engines included)
#   4. scripts/ci_scaleout.sh      installs and starts a one-node Slurm cluster and runs
#                                  tests/scaleout (Ray on 127.0.0.1, Slurm), then stops it all
# Extra arguments go to both pytest runs. Exits non-zero when any test fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh test
.venv/bin/python -m ruff check asyncllm tests benchmarks noxfile.py
.venv/bin/python -m mypy
.venv/bin/python -m pytest --ignore=tests/scaleout "$@"
bash scripts/ci_scaleout.sh "$@"
