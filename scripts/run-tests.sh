#!/usr/bin/env bash
# Set up a virtual environment with the project and its test extras, then run the
# project's own tests serially and on 2 MPI ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PATCH_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[test]'
export PATH="$PWD/$venv/bin:$PATH"
echo "== serial"
python -m pytest "$@"
echo "== mpiexec -n 2"
mpiexec -n 2 python -m pytest --with-mpi -m mpi -p no:cacheprovider "$@"
