#!/usr/bin/env bash
# A one-node Slurm on this machine, for testing the recipes: Debian's slurm-wlm and munge, no
# cgroups (ProctrackType=proctrack/linuxproc, TaskPlugin=task/none), state under $SLURM_HOME.
#   bash deploy/slurm/single-node.sh start   # writes the config, starts munged, slurmctld, slurmd
#   bash deploy/slurm/single-node.sh stop
# Needs root (the daemons run as root here). Prints the daemons' logs when a step fails.
set -euo pipefail
: "${SLURM_HOME:=/tmp/vitscape-slurm}"
conf=/etc/slurm/slurm.conf
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
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
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
    pkill -x slurmd || true
    pkill -x slurmctld || true
    ;;
esac
