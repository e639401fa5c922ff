#!/bin/bash
# A one-node Slurm cluster on this machine, for the tests of grids and training on a cluster
# (issue 21): Debian 12's slurm-wlm (slurmctld, slurmd) and munge, run as root without
# systemd, every file under one state directory, the node being this host at 127.0.0.1 with
# its cores.
#
#   scripts/slurm-cluster.sh start [DIR]   # installs the packages if missing, starts munged,
#                                          # slurmctld and slurmd; prints SLURM_CONF=DIR/slurm.conf
#   scripts/slurm-cluster.sh stop [DIR]    # stops them (the state directory stays)
#
# DIR defaults to /var/tmp/eelu-slurm; EELU_SLURMCTLD_PORT and EELU_SLURMD_PORT choose the
# ports (16817, 16818), so that two clusters (the tests' and one by hand) can run at once.
# Commands then need SLURM_CONF=DIR/slurm.conf in their environment (sbatch, srun, squeue,
# scancel, scontrol). Needs root (the daemons, apt). Used by tests/python/test_slurm.py.
set -euo pipefail

action=${1:-}
dir=${2:-/var/tmp/eelu-slurm}
ctl_port=${EELU_SLURMCTLD_PORT:-16817}
node_port=${EELU_SLURMD_PORT:-16818}

die() {
  echo "slurm-cluster: $*" >&2
  exit 1
}

install_packages() {
  local missing=()
  for tool in slurmctld slurmd munged sbatch; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" -eq 0 ] || die "needs root to install slurm-wlm and munge (missing: ${missing[*]})"
  local packages=(slurmctld slurmd slurm-client munge)
  # A machine whose package lists were never fetched (a fresh root) needs an update first.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}" \
    >"$dir/log/apt.log" 2>&1 ||
    { apt-get update -q >>"$dir/log/apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${packages[@]}" >>"$dir/log/apt.log" 2>&1; } ||
    die "apt-get install ${packages[*]} failed; see $dir/log/apt.log"
}

write_config() {
  local host mem
  host=$(hostname -s)
  mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
  cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm-cluster.sh: one node, this host, at 127.0.0.1.
ClusterName=eelu
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$node_port
AuthType=auth/munge
# cred_expire: a requeued job waits cred_expire + 1 s before it may start again (Slurm's
# requeue delay, 120 s by default); 10 s is plenty for a step's credential on one node.
AuthInfo=socket=$dir/munge/munge.sock,cred_expire=10
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
# A requeued job becomes eligible at its begin time, which no event announces: the periodic
# passes start it (every 60 s and 30 s by default; on one node for tests, every 2 s).
SchedulerParameters=sched_interval=2,bf_interval=2
JobRequeue=1
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  [ "$(id -u)" -eq 0 ] || die "needs root: the Slurm daemons run as root here"
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  chmod 711 "$dir/munge"
  install_packages
  if [ ! -s "$dir/munge/munge.key" ]; then
    head -c 1024 /dev/urandom >"$dir/munge/munge.key"
    chmod 400 "$dir/munge/munge.key"
  fi
  write_config
  export SLURM_CONF=$dir/slurm.conf
  stop_daemons quietly
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" || die "munged did not start; see $dir/log/munged.log"
  slurmctld -f "$SLURM_CONF" || die "slurmctld did not start; see $dir/log/slurmctld.log"
  slurmd -f "$SLURM_CONF" || die "slurmd did not start; see $dir/log/slurmd.log"
  for _ in $(seq 60); do
    if sinfo --noheader --states=idle,mixed,allocated -o %n 2>/dev/null | grep -q .; then
      echo "SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.5
  done
  die "the node did not come up within 30 s; see $dir/log/slurmctld.log and slurmd.log"
}

stop_daemons() {
  export SLURM_CONF=$dir/slurm.conf
  if [ -f "$SLURM_CONF" ]; then scontrol shutdown >/dev/null 2>&1 || true; fi
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -f "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    for _ in $(seq 20); do
      kill -0 "$pid" 2>/dev/null || break
      kill "$pid" 2>/dev/null || true
      sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  # and any daemon of this cluster a pid file does not name (one that failed half-way)
  pkill -9 -f -- "-f $dir/slurm.conf" 2>/dev/null || true
  pkill -9 -f -- "--socket=$dir/munge/munge.sock" 2>/dev/null || true
  [ "${1:-}" = quietly ] || echo "stopped the Slurm cluster in $dir"
}

case "$action" in
start) start ;;
stop) stop_daemons ;;
*) die "usage: $0 start|stop [DIR]" ;;
esac
