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

# A hoc model: a template cell, its own .mod file and a protocol run by load_file; every
# test on a fresh NEURON (nrn_isolate = test).
cd ../hoc_cell
echo "== the hoc model's tests, serially (its 2-rank test in an mpiexec -n 2 world of its own)"
python -m pytest -q -p no:cacheprovider
echo "== the hoc model's tests with pytest-xdist"
python -m pytest -q -p no:cacheprovider -n 2
echo "== the hoc model's 2-rank test under mpiexec -n 2"
mpiexec -n 2 python -m pytest -q --with-mpi -p no:cacheprovider tests/test_network.py::test_spikes_cross_ranks

# A model repository: a 52-section pyramidal cell with its own mechanisms, a 20-cell
# network over the ranks, golden traces, spikes and features, and validation bands.
cd ../cortical_column
echo "== the column, serially and on 2 ranks (the same raster)"
python run.py
mpiexec -n 2 python run.py
echo "== the column's tests, serially (its 2-rank test in a child mpiexec -n 2)"
python -m pytest -q -p no:cacheprovider
echo "== the column's tests on 2 ranks"
mpiexec -n 2 python -m pytest -q --with-mpi -p no:cacheprovider

# One repository with hoc cells (isolated tests, one mechanism CoreNEURON rejects), a
# raw-neuron.h ring network and its CoreNEURON matrix, under one pytest.ini.
cd ../model_repository
echo "== the model repository's tests, serially (2-rank configurations in a child mpiexec -n 2)"
python -m pytest -q -p no:cacheprovider
echo "== the model repository's tests with pytest-xdist"
python -m pytest -q -p no:cacheprovider -n 2
echo "== the model repository's tests on 2 ranks (isolated hoc tests in fresh processes of rank 0)"
mpiexec -n 2 python -m pytest -q --with-mpi -p no:cacheprovider

# Models in the style of ModelDB (mosinit.hoc, templates, their own .mod files, Graphs and
# printed results; one in Python) under regression with no test code: three ini lines
# each (nrn_scripts), run on a virtual display (Xvfb, scripts/install-system-packages.sh).
for model in modeldb_dendrite modeldb_ring modeldb_python; do
    cd "../$model"
    echo "== $model: its scripts as tests"
    python -m pytest -q -p no:cacheprovider
done
echo "== the three models' scripts with pytest-xdist"
cd ..
for model in modeldb_dendrite modeldb_ring modeldb_python; do
    (cd "$model" && python -m pytest -q -p no:cacheprovider -n 2)
done
