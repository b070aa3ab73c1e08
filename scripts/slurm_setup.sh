#!/usr/bin/env bash
# Bring up a one-node Slurm cluster on this machine, pinned to loopback (127.0.0.1).
#
# Idempotent; run as root. Needs Debian's `slurm-wlm` (or slurmctld + slurmd + slurm-client) and
# `munge` packages. No systemd required: munged, slurmctld and slurmd are started as daemons
# directly. No cgroups, no accounting database. All Slurm traffic goes to 127.0.0.1 (NodeAddr,
# SlurmctldHost address); the daemons still *listen* on the wildcard address (Slurm 22.05 has no
# listen-address setting), which is not traffic to any other host.
#
# Environment knobs:
#   SLURM_SETUP_WAIT_S   how long to wait for the node to become idle (default 30)
#   SLURM_REAL_MEMORY    RealMemory in MB advertised for the node (default 2048)
#   SLURM_FORCE_RESTART  1 → restart the daemons even if the config did not change
set -euo pipefail

WAIT_S="${SLURM_SETUP_WAIT_S:-30}"
REAL_MEMORY="${SLURM_REAL_MEMORY:-2048}"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
HOST="$(hostname -s)"
CPUS="$(nproc)"

log() { printf '[slurm_setup] %s\n' "$*" >&2; }
die() { printf '[slurm_setup] ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || die "must run as root"
for bin in munged slurmctld slurmd sinfo scontrol; do
    command -v "$bin" >/dev/null || die "$bin not found; apt-get install -y slurm-wlm munge"
done

# --- munge -------------------------------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating munge key"
    if command -v mungekey >/dev/null; then
        mungekey --create --force --keyfile=/etc/munge/munge.key
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running"
else
    # A stale pid file / socket from a dead munged blocks a new start.
    rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 1 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null || die "munged did not come up (see /var/log/munge/munged.log)"
fi

# --- slurm.conf --------------------------------------------------------------------------------
install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm
install -d -m 0755 /var/lib/slurm/slurmd /run/slurm

NEW_CONF="$(cat <<CONF
# Written by asyncllm scripts/slurm_setup.sh: one-node cluster on loopback.
ClusterName=asyncllm
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=300
SchedulerParameters=sched_interval=1
NodeName=${HOST} NodeAddr=127.0.0.1 NodeHostname=${HOST} CPUs=${CPUS} RealMemory=${REAL_MEMORY} State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
CONF
)"

CHANGED=0
if [[ ! -f "$CONF" ]] || [[ "$(cat "$CONF")" != "$NEW_CONF" ]]; then
    log "writing $CONF"
    printf '%s\n' "$NEW_CONF" > "$CONF.tmp"
    chmod 0644 "$CONF.tmp"
    mv "$CONF.tmp" "$CONF"
    CHANGED=1
fi
# Debian's slurmd reads cgroup.conf only if cgroup plugins are used; none are.

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_daemon() {  # $1 = pid file
    if pid_alive "$1"; then
        local pid; pid="$(cat "$1")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

if [[ "$CHANGED" == 1 || "${SLURM_FORCE_RESTART:-0}" == 1 ]]; then
    stop_daemon /run/slurm/slurmd.pid
    stop_daemon /run/slurm/slurmctld.pid
fi

if pid_alive /run/slurm/slurmctld.pid; then
    log "slurmctld already running"
else
    log "starting slurmctld"
    # -c: clear any saved state (jobs, node states) from an earlier run / other config.
    /usr/sbin/slurmctld -c
fi
for _ in $(seq 1 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.1; done
scontrol ping | grep -q 'is UP' || die "slurmctld did not answer (see /var/log/slurm/slurmctld.log)"

if pid_alive /run/slurm/slurmd.pid; then
    log "slurmd already running"
else
    log "starting slurmd"
    /usr/sbin/slurmd
fi

# --- wait for the node --------------------------------------------------------------------------
deadline=$(( $(date +%s) + WAIT_S ))
state=""
while :; do
    state="$(sinfo -h -n "$HOST" -o '%T' 2>/dev/null | head -n1 || true)"
    case "$state" in
        idle|mixed|allocated|completing) break ;;
        down*|drain*)
            scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    if (( $(date +%s) >= deadline )); then
        tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
        die "node $HOST not idle after ${WAIT_S}s (state: '${state:-unknown}')"
    fi
    sleep 0.2
done
log "node $HOST is $state (CPUs=$CPUS, partition debug)"
