"""The command that starts a serial session's child runs: the ``mpiexec`` of the MPI library
that mpi4py loads, since only that library's launcher can start a world of its ranks.

Which library mpi4py loads is asked of a short-lived Python process that imports mpi4py
without initialising MPI (this process stays serial and MPI-free), and the launcher is
looked for beside that library (``<prefix>/lib/libmpi.so`` -> ``<prefix>/bin/mpiexec``),
then beside this Python, then on ``PATH``; each candidate's ``--version`` must name the
same MPI as the library.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Printed by the probe: the library's version string, then the path of the libmpi it mapped.
_PROBE = """
import mpi4py
mpi4py.rc.initialize = mpi4py.rc.finalize = False
from mpi4py import MPI
print(" ".join(MPI.Get_library_version().split()))
print(next((line.split(None, 5)[5].strip() for line in open("/proc/self/maps")
            if "libmpi" in line.rsplit("/", 1)[-1] and len(line.split(None, 5)) > 5), ""))
"""
# Launcher names by MPI, beyond plain ``mpiexec`` (Debian's alternatives name them so).
_NAMES = {
    "Open MPI": ["mpiexec.openmpi", "mpirun.openmpi"],
    "MPICH": ["mpiexec.mpich", "mpiexec.hydra"],
    "Intel MPI": ["mpiexec.hydra"],
}
_PREFIX_LEVELS = 4  # <prefix>/lib/x86_64-linux-gnu/openmpi/lib/libmpi.so is four deep


class LauncherError(Exception):
    """No launcher of the MPI that mpi4py loads was found; the message says what to do."""


def flavour(version: str) -> str | None:
    """Which MPI a library's version string or a launcher's ``--version`` names."""
    if "Intel(R) MPI" in version:
        return "Intel MPI"
    if "Open MPI" in version or "OpenRTE" in version:
        return "Open MPI"
    if "MPICH" in version or "HYDRA" in version:
        return "MPICH"
    return None


@dataclass(frozen=True)
class Library:
    """The MPI library that mpi4py loads: its version string and where it is."""

    version: str
    path: str

    @property
    def name(self) -> str:
        return flavour(self.version) or self.version.split(",")[0]

    def __str__(self) -> str:
        return f"{self.name} ({self.path or 'path unknown'})"


@functools.cache
def loaded_library() -> Library:
    """The MPI library that mpi4py loads in a fresh process of this Python."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PMI")}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LauncherError(f"could not ask mpi4py which MPI library it loads: {error}") from error
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) < 2:
        raise LauncherError(
            "mpi4py cannot load an MPI library, so no child MPI run can start: install one "
            "(`pip install mpich`, `pip install impi-rt`, or a system Open MPI or MPICH with "
            f"mpi4py built against it).\n{done.stderr.strip()}"
        )
    return Library(lines[0].strip(), lines[1].strip())


def launcher_flavour(command: str) -> str | None:
    """Which MPI the launcher ``command`` belongs to, from its ``--version``."""
    try:
        done = subprocess.run(
            [command, "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return flavour(done.stdout + done.stderr)


def candidates(library: Library) -> list[str]:
    """Launchers to try, in order: beside the library, beside this Python, on ``PATH``."""
    names = ["mpiexec", *_NAMES.get(library.name, [])]
    found: list[str] = []
    if library.path:
        folder = Path(library.path).resolve().parent
        for prefix in [folder, *folder.parents][: _PREFIX_LEVELS + 1]:
            found += [str(prefix / "bin" / name) for name in names]
    found += [os.path.join(os.path.dirname(sys.executable), name) for name in names]
    found += [path for name in names if (path := shutil.which(name))]
    unique = dict.fromkeys(path for path in found if os.access(path, os.X_OK))
    return list(unique)


@functools.cache
def default_launcher() -> str:
    """The ``mpiexec`` of the MPI library that mpi4py loads (:class:`LauncherError` if none)."""
    library = loaded_library()
    return choose(library, candidates(library))


def choose(library: Library, commands: list[str]) -> str:
    """The first of ``commands`` that is a launcher of ``library``'s MPI."""
    seen: list[str] = []
    for command in commands:
        mpi = launcher_flavour(command)
        if mpi == library.name or (mpi is None and flavour(library.version) is None):
            return command
        seen.append(f"{command} ({mpi or 'an unknown MPI'})")
    if seen:
        found = "found only the launcher(s) " + ", ".join(seen)
    else:
        found = "found no mpiexec beside it, beside this Python or on PATH"
    raise LauncherError(
        f"mpi4py loads {library}, but pytest-patch {found}: a launcher of another MPI "
        f"cannot start {library.name}'s ranks. Install {library.name}'s mpiexec, or name "
        "the launcher with --mpi-launcher (ini mpi_launcher), e.g. 'mpirun' or 'srun'."
    )
