#!/usr/bin/env bash
# Set up a virtual environment with the project, then run the project's own tests
# serially and on 2 MPI ranks. (scripts/lint.sh runs the linter and the type check.)
set -euo pipefail
source "$(dirname "$0")/setup-venv.sh"
# The suite starts hundreds of Python processes: let them share compiled modules (and
# pytest's assertion-rewritten ones) instead of compiling them again in each.
unset PYTHONDONTWRITEBYTECODE
# A stuck run is a failure, not a wait: each run has a generous upper bound. The serial
# run spreads its tests over PATCH_WORKERS pytest-xdist workers (default 2); a worker
# that is done takes tests from the other (the tests' durations are very unequal).
echo "== serial"
timeout --kill-after=30 1200 python -m pytest -n "${PATCH_WORKERS:-2}" --dist worksteal "$@"
echo "== mpiexec -n 2"
timeout --kill-after=30 600 mpiexec -n 2 python -m pytest --with-mpi -m mpi -p no:cacheprovider "$@"
