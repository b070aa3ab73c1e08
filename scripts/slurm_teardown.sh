#!/usr/bin/env bash
# Stop the one-node Slurm cluster started by slurm_setup.sh (slurmd, slurmctld, munged).
# Idempotent; run as root. Leaves the packages, munge key and slurm.conf in place.
# SLURM_TEARDOWN_KEEP_MUNGE=1 leaves munged running.
set -uo pipefail

log() { printf '[slurm_teardown] %s\n' "$*" >&2; }

stop_pidfile() {  # $1 = name, $2 = pid file
    local pid
    if [[ -f "$2" ]] && pid="$(cat "$2")" && kill -0 "$pid" 2>/dev/null; then
        log "stopping $1 ($pid)"
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$1 did not exit; SIGKILL"
            kill -9 "$pid" 2>/dev/null
        fi
    fi
    rm -f "$2"
}

if command -v scancel >/dev/null && scontrol ping 2>/dev/null | grep -q 'is UP'; then
    scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
fi
stop_pidfile slurmd /run/slurm/slurmd.pid
stop_pidfile slurmctld /run/slurm/slurmctld.pid
if [[ "${SLURM_TEARDOWN_KEEP_MUNGE:-0}" != 1 ]]; then
    stop_pidfile munged /run/munge/munged.pid
fi
exit 0
