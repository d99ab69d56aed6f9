#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost for the SLURM test (needs root and Debian's
# slurmctld, slurmd, slurm-client, munge). No systemd: the daemons are started and stopped here.
#   cluster.sh install   apt-get the packages (CI; skipped when present)
#   cluster.sh up        write /etc/slurm/slurm.conf, start munged, slurmctld, slurmd; wait for the node
#   cluster.sh down      stop the daemons by pid file (SIGKILL fallback)
# slurm.conf must be at /etc/slurm/slurm.conf: the executor plugin's job step drops SLURM_CONF.
set -euo pipefail
STATE=/var/lib/gexflow-slurm
PIDS=/run/gexflow-slurm
# With the slurm client installed but no controller answering, the executor plugin's import runs
# `scontrol show config` (10 s timeout) in every `snakemake` call. `install` and `down` therefore
# hide `sinfo` (the plugin's probe for a SLURM system) as /usr/bin/sinfo.gexflow-shadowed; `up`
# brings it back while the cluster runs.
SHADOW=/usr/bin/sinfo.gexflow-shadowed

unshadow() { if [ -e "$SHADOW" ] && [ ! -e /usr/bin/sinfo ]; then mv "$SHADOW" /usr/bin/sinfo; fi; }

shadow() { if [ -e /usr/bin/sinfo ] && [ ! -e "$SHADOW" ]; then mv /usr/bin/sinfo "$SHADOW"; fi; }

install() {
  unshadow
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    echo "slurm: packages already installed"
  else
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
  fi
  # No controller runs until `up`: keep `sinfo` hidden until then.
  if ! pgrep -x slurmctld >/dev/null; then shadow; fi
}

up() {
  unshadow
  mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$PIDS" /var/log/slurm /run/munge /var/lib/munge /var/log/munge /etc/munge
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=gexflow-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# Finished jobs stay visible to squeue well past the plugin's first status check.
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
  chmod 0400 /etc/munge/munge.key
  if ! pgrep -x munged >/dev/null; then
    (runuser -u munge -- munged 2>/dev/null || munged --force)
  fi
  slurmctld
  slurmd -N localhost
  if pgrep -x slurmctld >/dev/null; then scontrol reconfigure >/dev/null 2>&1 || true; fi
  for _ in $(seq 1 60); do
    if sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "slurm: node up ($cpus CPUs, ${mem} MB)"; return
    fi
    sleep 1
  done
  echo "slurm: node did not come up" >&2
  sinfo -N -l >&2 || true
  tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  exit 1
}

stop_pid() {
  local file=$1 name=$2
  [ -f "$file" ] || { pkill -x "$name" 2>/dev/null || true; return; }
  local pid; pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  # slurmd can ignore SIGTERM while it is still registering.
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return; }; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

down() {
  stop_pid "$PIDS/slurmd.pid" slurmd
  stop_pid "$PIDS/slurmctld.pid" slurmctld
  shadow
  echo "slurm: stopped; sinfo shadowed so local snakemake calls start at normal speed"
}

"${1:?usage: cluster.sh install|up|down}"
