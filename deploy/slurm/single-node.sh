#!/usr/bin/env bash
# A one-node Slurm on this machine, for testing the recipes: Debian's slurm-wlm and munge, no
# cgroups (ProctrackType=proctrack/linuxproc, TaskPlugin=task/none). Its config, state, logs and
# pid files live under $SLURM_HOME; /etc/slurm is not touched. Clients find it through
# SLURM_CONF=$SLURM_HOME/slurm.conf.
#   SLURM_HOME=/tmp/s bash deploy/slurm/single-node.sh start   # starts munged, slurmctld, slurmd
#   SLURM_CONF=/tmp/s/slurm.conf sbatch …
#   SLURM_HOME=/tmp/s bash deploy/slurm/single-node.sh stop    # stops the two it started
# Needs root (the daemons run as root here). Prints the daemons' logs when a step fails.
set -euo pipefail
: "${SLURM_HOME:=/tmp/vitscape-slurm}"
conf="$SLURM_HOME/slurm.conf"
export SLURM_CONF="$conf"
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
case "${1:-start}" in
start)
    mkdir -p "$SLURM_HOME"/{state,spool,log} /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    pgrep -x munged >/dev/null || su -s /bin/sh munge -c munged 2>/dev/null || munged --force
    cat > "$conf" <<CONF
ClusterName=vitscape-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$SLURM_HOME/state
SlurmdSpoolDir=$SLURM_HOME/spool
SlurmctldPidFile=$SLURM_HOME/slurmctld.pid
SlurmdPidFile=$SLURM_HOME/slurmd.pid
SlurmctldLogFile=$SLURM_HOME/log/slurmctld.log
SlurmdLogFile=$SLURM_HOME/log/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    slurmctld -f "$conf"
    slurmd -f "$conf"
    for _ in $(seq 60); do
        if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            sinfo
            exit 0
        fi
        sleep 1
    done
    echo "slurm did not come up; its logs:" >&2
    tail -n 30 "$SLURM_HOME"/log/*.log >&2 || true
    exit 1
    ;;
stop)
    # Only the daemons this folder's pid files name (never another Slurm on the machine).
    for pidfile in "$SLURM_HOME/slurmd.pid" "$SLURM_HOME/slurmctld.pid"; do
        if [ -s "$pidfile" ]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    ;;
esac
