#!/usr/bin/env bash
# Scale-out tests end to end, on a fresh Debian 12 machine, as root (or a user with
# passwordless sudo, used for apt-get and the Slurm daemons only):
#   1. install Slurm + munge (apt) and Ray Serve (pip) if missing,
#   2. start the one-node loopback Slurm cluster (scripts/slurm_setup.sh),
#   3. run tests/scaleout (pure unit tests + @slurm + @ray),
#   4. tear the cluster down (also on failure).
# Idempotent. PYTHON (default .venv/bin/python) picks the interpreter; extra args go to pytest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
RAY_SPEC="${RAY_SPEC:-ray[serve]==2.60.0}"
log() { printf '[ci_scaleout] %s\n' "$*" >&2; }
t_start=$(date +%s)

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        log "must run as root or with passwordless sudo (apt-get, slurm daemons)"; exit 1
    fi
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
        || ! command -v sbatch >/dev/null; then
    log "installing slurm-wlm munge (apt)"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
fi

if ! "$PY" -c 'import ray, ray.serve' >/dev/null 2>&1; then
    if grep -qE '^\s*ray\s*=' "$ROOT/pyproject.toml"; then
        log "installing the [ray] extra"
        "$PY" -m pip install -q -e "$ROOT[ray]"
    else
        log "installing $RAY_SPEC"
        "$PY" -m pip install -q "$RAY_SPEC"
    fi
fi

cleanup() {
    rc=$?
    "${SUDO[@]}" "$ROOT/scripts/slurm_teardown.sh" || true
    log "done in $(( $(date +%s) - t_start ))s (rc=$rc)"
    exit $rc
}
trap cleanup EXIT

"${SUDO[@]}" "$ROOT/scripts/slurm_setup.sh"

cd "$ROOT"
# Every Ray and Slurm test must run here: a skip would hide a missing engine.
"$PY" -m pytest tests/scaleout -p no:randomly -q -rs "$@" | tee "${TMPDIR:-/tmp}/ci_scaleout.$$.log"
if grep -qE '^SKIPPED' "${TMPDIR:-/tmp}/ci_scaleout.$$.log"; then
    log "some scale-out tests were skipped (see above): Ray or Slurm is not usable"; exit 1
fi
rm -f "${TMPDIR:-/tmp}/ci_scaleout.$$.log"
