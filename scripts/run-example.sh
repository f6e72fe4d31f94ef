#!/usr/bin/env bash
# Set up a virtual environment with the project, run the example model, then run the
# example model's test suite serially and on 2 MPI ranks.
set -euo pipefail
source "$(dirname "$0")/setup-venv.sh"
cd examples/ball_and_stick
echo "== the model, serially"
python model.py
echo "== the model on 2 ranks"
mpiexec -n 2 python model.py
echo "== its tests, serially"
python -m pytest -q
echo "== its tests on 2 ranks"
mpiexec -n 2 python -m pytest -q --with-mpi -p no:cacheprovider
