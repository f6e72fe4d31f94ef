#!/usr/bin/env bash
# CI: the MPI tests on a one-node Slurm cluster, started here by hand (no systemd):
# Debian's munge, slurmctld and slurmd, this host as the one node. The suite
# scripts/cluster/test_cluster.py (one test fails on rank 1, on purpose) runs
#   1. directly under `srun -n 2 --mpi=pmi2 python -m pytest --with-mpi`;
#   2. from a serial pytest inside `salloc -n 2` (child runs with the default launcher,
#      mpiexec, which starts its ranks through Slurm);
#   3. the same with `mpi_launcher = srun --mpi=pmi2`.
# Each must report exactly that failure, naming rank 1, and pass the rest.
# Needs root, apt (Debian's packages) and the virtual environment of run-tests.sh
# (PATCH_VENV); the cluster is stopped at the end.
#   bash scripts/ci-slurm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
venv="${PATCH_VENV:-.venv-ci}"
case "$venv" in
    /*) python="$venv/bin/python" ;;
    *) python="$repo/$venv/bin/python" ;;
esac
[ -x "$python" ] || python="$(command -v python3)"
state="${PATCH_SLURM_STATE:-/tmp/patch-slurm}"
host=$(hostname -s)
cpus=$(nproc)

if ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    echo "== slurm: installing munge, slurmctld, slurmd"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        munge slurmctld slurmd slurm-client >"$state.apt.log" 2>&1 \
        || { cat "$state.apt.log"; exit 1; }
fi

# The daemons this script started, stopped at the end.
started=()
stop() {
    for pidfile in "${started[@]}"; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
}
trap stop EXIT

echo "== slurm: starting munge, slurmctld and slurmd (one node: $host, $cpus CPUs)"
mkdir -p "$state"/{ctld,d} /run/munge
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge: /etc/munge/munge.key /run/munge
chmod 400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- munged
    started+=(/run/munge/munged.pid)
fi
mkdir -p /etc/slurm
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=patch-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
slurmctld
started+=("$state/slurmctld.pid")
slurmd
started+=("$state/slurmd.pid")
for _ in $(seq 60); do
    sinfo -h -o %t 2>/dev/null | grep -Eq '^(idle|mix|alloc)' && break
    sleep 1
done
sinfo

# Run a pytest of the suite (the command's words are the arguments) and check that
# exactly test_fails_on_rank_1 failed, naming rank 1, and the others passed.
check() {
    local name="$1"; shift
    local out="$state/$name.out" start=$SECONDS status=0
    echo "== slurm: $name: $*"
    timeout --kill-after=10 300 "$@" -p no:cacheprovider -rA --junitxml="$state/$name.xml" \
        scripts/cluster/test_cluster.py >"$out" 2>&1 || status=$?
    if [ "$status" -ne 1 ] \
        || ! grep -q "^FAILED scripts/cluster/test_cluster.py::test_fails_on_rank_1 - \[rank 1\]" "$out" \
        || ! grep -Eq "^=+ 1 failed, [0-9]+ passed" "$out"; then
        cat "$out"
        echo "== slurm: $name: expected one failure (rank 1) and the rest passed; exit status $status" >&2
        exit 1
    fi
    tail -n 1 "$out"
    echo "== slurm: $name took $((SECONDS - start)) s"
}

export PATH="$(dirname "$python"):$PATH"
check srun srun -n 2 --mpi=pmi2 "$python" -m pytest --with-mpi
check salloc salloc -n 2 "$python" -m pytest
check salloc-srun salloc -n 2 "$python" -m pytest -o "mpi_launcher=srun --mpi=pmi2"
