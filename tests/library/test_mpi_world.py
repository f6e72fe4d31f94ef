"""Importing Patch under mpiexec gives NEURON and mpi4py one world, whatever came first.

Each test launches its own processes (serially or with ``mpiexec``), because how MPI
starts is decided once per process, at import.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

# Slow (mpiexec runs): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "MV2_", "MPI_LOCALNRANKS", "HYDRA_")

# Writes what this process sees of the world to a JSON file named after its rank.
PROBE = """
import json, os
from patch import p
from mpi4py import MPI
path = os.path.join({out!r}, f"{{MPI.COMM_WORLD.Get_rank()}}.json")
with open(path, "w") as file:
    file.write(json.dumps({{
    "order": {order!r},
    "nhost": int(p.parallel.nhost()), "id": int(p.parallel.id()),
    "mpi_size": MPI.COMM_WORLD.Get_size(), "mpi_rank": MPI.COMM_WORLD.Get_rank(),
    "allreduce": p.parallel.allreduce(p.parallel.id() + 1, 1),
}}))
"""

ORDERS = {
    "patch first": "import patch",
    "mpi4py first": "from mpi4py import MPI\nimport patch",
    "neuron first": "from neuron import h\nimport patch",
    # NEURON's own attempt finds no MPI (it prints why); Patch then joins it to the world.
    "nrnmpi_init first": "from neuron import h\nh.nrnmpi_init()\nimport patch",
}


def clean_environment(**extra):
    """This process's environment without an MPI launcher's variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_PREFIXES)}
    env.update(extra)
    return env


def launch(args, env=None, timeout=120):
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or clean_environment(),
    )


def copied_libmpi(tmp_path):
    """The libmpi mpi4py loads, and a copy of it (a second MPI library for NEURON)."""
    found = launch(
        [
            sys.executable,
            "-c",
            "from mpi4py import MPI; from patch._boot import loaded_mpi_libraries as f; print(f()[0])",
        ]
    )
    assert found.returncode == 0, found.stderr
    copy = tmp_path / os.path.basename(found.stdout.strip())
    shutil.copyfile(found.stdout.strip(), copy)
    return found, copy


def probe(order, out):
    return ORDERS[order] + "\n" + PROBE.format(order=order, out=str(out))


def records(out):
    return [json.loads(path.read_text()) for path in sorted(out.glob("*.json"))]


@pytest.fixture(scope="module")
def mpiexec():
    if MPIEXEC is None:
        pytest.fail("mpiexec was not found; install the mpich wheel (pip install mpich).")
    return MPIEXEC


def test_serial_import_starts_no_mpi():
    code = (
        "import sys, patch; from patch import p; "
        "print('mpi4py.MPI' in sys.modules, int(p.parallel.nhost()), p.parallel.broadcast(5))"
    )
    result = launch([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "1", "5"]


def test_every_import_order_joins_one_world(mpiexec, tmp_path):
    """One world of processes, each importing in a different order."""
    args = [mpiexec]
    for order in ORDERS:
        args += ["-n", "1", sys.executable, "-c", probe(order, tmp_path), ":"]
    result = launch(args[:-1])
    assert result.returncode == 0, result.stderr
    seen = records(tmp_path)
    assert sorted(r["order"] for r in seen) == sorted(ORDERS)
    size = len(ORDERS)
    for record in seen:
        assert (record["nhost"], record["mpi_size"]) == (size, size), record
        assert record["id"] == record["mpi_rank"], record
        assert record["allreduce"] == sum(range(1, size + 1))
    assert sorted(r["id"] for r in seen) == list(range(size))
    # NEURON's "numprocs=N" is not printed.
    assert "numprocs" not in result.stdout


def test_neuron_is_pointed_at_mpi4pys_library_whatever_the_environment(mpiexec, tmp_path):
    """A bogus MPI_LIB_NRN_PATH or NEURON_INIT_MPI cannot split the world."""
    not_mpi = np._core._multiarray_umath.__file__  # a shared library without MPI in it
    settings = [
        ("patch first", {"MPI_LIB_NRN_PATH": not_mpi}),
        ("neuron first", {"MPI_LIB_NRN_PATH": "/nonexistent/libmpi.so"}),
        ("patch first", {"NEURON_INIT_MPI": "1", "MPI_LIB_NRN_PATH": not_mpi}),
        ("neuron first", {"NEURON_INIT_MPI": "0"}),
    ]
    args = [mpiexec]
    for order, env in settings:
        args += ["-n", "1"]
        for name, value in env.items():
            args += ["-env", name, value]
        args += [sys.executable, "-c", probe(order, tmp_path), ":"]
    result = launch(args[:-1])
    assert result.returncode == 0, result.stderr
    seen = records(tmp_path)
    assert len(seen) == len(settings)
    assert all(r["nhost"] == r["mpi_size"] == len(settings) for r in seen), seen
    assert sorted(r["id"] for r in seen) == sorted(r["mpi_rank"] for r in seen) == [0, 1, 2, 3]


def test_two_mpi_libraries_in_one_process_are_a_clear_error(mpiexec, tmp_path):
    """NEURON told (before Patch could step in) to load a second copy of libmpi."""
    found, copy = copied_libmpi(tmp_path)
    code = (
        "from mpi4py import MPI\nfrom neuron import h\n"
        "try:\n    from patch import p\nexcept Exception as error:\n"
        "    print(f'{type(error).__name__}: {error}', flush=True)\n"
    )
    result = launch(
        [mpiexec, "-n", "2", sys.executable, "-c", code],
        env=clean_environment(MPI_LIB_NRN_PATH=str(copy)),
    )
    # Each rank prints its error in one write; the two lines may still interleave.
    assert result.stdout.count("MPIConfigurationError: Two MPI libraries") == 2, (
        result.stdout + result.stderr
    )
    errors = [line for line in result.stdout.splitlines() if "MPIConfigurationError" in line]
    assert str(copy) in errors[0] and found.stdout.strip() in errors[0]
    assert "MPI_LIB_NRN_PATH" in errors[0] and "Unset" in errors[0]


def test_mpi4py_without_an_mpi_library_is_a_clear_error(mpiexec):
    result = launch(
        [mpiexec, "-n", "2", sys.executable, "-c", "from patch import p"],
        env=clean_environment(MPI4PY_LIBMPI="/nonexistent/libmpi.so"),
    )
    assert result.returncode != 0
    assert result.stderr.count("MPIConfigurationError: mpi4py could not load an MPI library") == 2
    assert "MPI4PY_LIBMPI" in result.stderr


def test_a_serial_process_is_serial_whatever_libraries_are_loaded(tmp_path, mpi_leftovers_removed):
    """No launcher: mpi4py and NEURON may each have opened a libmpi; Patch does not refuse."""
    found, copy = copied_libmpi(tmp_path)
    code = (
        "from mpi4py import MPI\nfrom neuron import h\nfrom patch import p\n"
        "from patch._boot import loaded_mpi_libraries\n"
        "print(len(loaded_mpi_libraries()), p.parallel.size, p.parallel.rank)\n"
    )
    result = launch(
        [sys.executable, "-c", code],
        env=clean_environment(MPI_LIB_NRN_PATH=str(copy), NEURON_INIT_MPI="1"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["2", "1", "0"]  # two libraries, one serial world
