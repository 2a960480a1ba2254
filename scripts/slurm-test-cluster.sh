#!/usr/bin/env bash
# Runs a command against a single-node Slurm of its own: munged, slurmctld and slurmd started as
# children of this script in a temporary directory, on free ports, with SLURM_CONF pointing at
# it. Stops the daemons and removes the directory when the command ends, however it ends.
#
#   scripts/slurm-test-cluster.sh COMMAND [ARG...]
#
# The command also sees GRAFT_SLURM_TEST_CLUSTER (the temporary directory), which enables the
# tests that need a cluster. Needs root (the daemons run as root; no systemd, no cgroups) and
# `scripts/install-deps.sh --cluster`. KEEP_SLURM_TEST_DIR=1 keeps the directory and its logs.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "$0: the test cluster's daemons run as root" >&2
  exit 1
fi
for tool in munged mungekey slurmctld slurmd sinfo scontrol; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing: run scripts/install-deps.sh --cluster" >&2; exit 1; }
done

T=$(mktemp -d /tmp/graft-slurm.XXXXXX)
chmod 755 "$T"
mkdir -p "$T/munge" "$T/state" "$T/spool" "$T/log"
chmod 755 "$T/munge" # munged refuses a socket directory others cannot read
export SLURM_CONF=$T/slurm.conf
export GRAFT_SLURM_TEST_CLUSTER=$T
MUNGE_PID= CTLD_PID= SLURMD_PID=

stop() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$CTLD_PID" ]; then
    scancel --user="$(id -un)" 2>/dev/null || true
    scontrol shutdown >/dev/null 2>&1 || kill "$CTLD_PID" "$SLURMD_PID" 2>/dev/null || true
    wait "$CTLD_PID" "$SLURMD_PID" 2>/dev/null || true
  fi
  if [ -n "$MUNGE_PID" ]; then
    kill "$MUNGE_PID" 2>/dev/null || true
    wait "$MUNGE_PID" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$T/log/slurmctld.log" ]; then
    echo "--- last lines of slurmctld.log and slurmd.log ($T/log)" >&2
    tail -n 15 "$T/log/slurmctld.log" "$T/log/slurmd.log" >&2 || true
  fi
  if [ "${KEEP_SLURM_TEST_DIR:-0}" = 1 ]; then
    echo "kept $T" >&2
  else
    rm -rf "$T"
  fi
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

# Two ports nothing listens on, so this cluster never meets another one.
read -r CTLD_PORT SLURMD_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

mungekey -c -k "$T/munge/munge.key"
munged -F -S "$T/munge/munge.socket" --key-file="$T/munge/munge.key" --log-file="$T/munge/munged.log" \
  --pid-file="$T/munge/munged.pid" --seed-file="$T/munge/munged.seed" >"$T/log/munged.stderr" 2>&1 &
MUNGE_PID=$!
for _ in $(seq 100); do [ -S "$T/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$T/munge/munge.socket" ] || { echo "$0: munged did not start (see $T/log)" >&2; exit 1; }

H=$(hostname -s)
# cred_expire=5 and one-second scheduling: a requeued task starts again in seconds, not minutes.
cat >"$SLURM_CONF" <<EOF
ClusterName=graft-test
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.socket,cred_expire=5
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$T/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=5
NodeName=$H NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -D -i >"$T/log/slurmctld.stderr" 2>&1 &
CTLD_PID=$!
slurmd -D -N "$H" >"$T/log/slurmd.stderr" 2>&1 &
SLURMD_PID=$!
for _ in $(seq 300); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break; sleep 0.1; done
[ "$(sinfo -h -o %T 2>/dev/null)" = idle ] || { echo "$0: the node did not come up (see $T/log)" >&2; exit 1; }
echo "slurm test cluster up in $T (ports $CTLD_PORT, $SLURMD_PORT)" >&2

"$@"
