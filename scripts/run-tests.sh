#!/usr/bin/env bash
# Set up a virtual environment with the project, then run the project's own tests
# serially and on 2 MPI ranks. (scripts/lint.sh runs the linter and the type check.)
set -euo pipefail
source "$(dirname "$0")/setup-venv.sh"
# The suite starts hundreds of Python processes: they share compiled modules (and
# pytest's assertion-rewritten ones) instead of compiling them again in each
# (setup-venv.sh unsets PYTHONDONTWRITEBYTECODE).
# With ccache installed, the many nrnivmodl runs of the same sources (CoreNEURON's own
# mechanisms in every -coreneuron build above all) compile once. ccache keeps them in its
# own cache, shared by every clone and environment. Its folder is fixed here because
# pytester gives each inner pytest run a HOME of its own (ccache's default folder would be
# a new, empty one in each). Patch compiles a copy of a mod folder's sources named after
# their hash, with NEURON through a link named after the installation's content, and makes
# each build's folder ccache's base, so the same sources built in two test folders, in two
# runs or in two clones, are one entry. PATCH_NO_CCACHE=1 compiles everything afresh.
if command -v ccache >/dev/null && [ -z "${PATCH_NO_CCACHE:-}" ]; then
    mkdir -p "$venv/ccache-bin"
    for compiler in gcc g++ cc c++; do
        ln -sf "$(command -v ccache)" "$venv/ccache-bin/$compiler"
    done
    export PATH="$venv/ccache-bin:$PATH"
    CCACHE_DIR="$(ccache --get-config cache_dir)"
    export CCACHE_DIR
fi
# A stuck run is a failure, not a wait: each run has a generous upper bound. The serial
# run spreads its tests over PATCH_WORKERS pytest-xdist workers (default: one more than
# the CPUs, since many tests wait on processes, timeouts and MPI launchers); a worker that
# is done takes tests from the others (the tests' durations are very unequal).
echo "== serial"
workers="${PATCH_WORKERS:-$(($(nproc) + 1))}"
timeout --kill-after=30 1200 python -m pytest -n "$workers" --dist worksteal "$@"
echo "== mpiexec -n 2"
timeout --kill-after=30 600 mpiexec -n 2 python -m pytest --with-mpi -m mpi -p no:cacheprovider "$@"
