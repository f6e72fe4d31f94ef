#!/usr/bin/env bash
# Set up a virtual environment with the project, run the example model, then run the
# example model's test suite serially and on 2 MPI ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PATCH_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[test]'
export PATH="$PWD/$venv/bin:$PATH"
cd examples/ball_and_stick
python model.py
python -m pytest -q
mpiexec -n 2 python -m pytest -q --with-mpi -p no:cacheprovider
