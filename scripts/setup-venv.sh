#!/usr/bin/env bash
# Sourced by the other scripts: make a virtual environment with the project and the extras
# in $PATCH_EXTRAS (default: test,mpich; lint.sh adds lint) installed (editable), and put
# it first on PATH. The installer's output is kept in $venv/install.log and shown only
# when the installation fails. An environment already installed from this pyproject.toml
# (and setup.py, patch/_speedups.c) with these extras (or more) is used as it is.
#
# The installer is uv (the one on PATH, else one installed into the environment from
# PyPI): it installs the same packages from the same index as pip, in a few seconds
# instead of about fifteen. Without uv (PATCH_NO_UV=1, or when it cannot be had), pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${PATCH_VENV:-.venv}"
extras="${PATCH_EXTRAS:-test,mpich}"
[ -x "$venv/bin/python" ] || python3 -m venv --without-pip "$venv"
log="$venv/install.log"
stamp="$venv/.patch-installed"
# What the installation is made from: the project's metadata and the compiled module
# (an editable install builds patch/_speedups.c once; a change to it needs a new build).
project="$(cat pyproject.toml setup.py patch/_speedups.c | sha256sum | cut -d' ' -f1) $PWD"
installed_sha="" installed_path="" installed_extras=""
if [ -f "$stamp" ]; then
    read -r installed_sha installed_path installed_extras < "$stamp" || true
fi
up_to_date=0
if [ "${installed_sha:-} ${installed_path:-}" = "$project" ]; then
    up_to_date=1
    for extra in ${extras//,/ }; do
        case ",$installed_extras," in *",$extra,"*) ;; *) up_to_date=0 ;; esac
    done
fi
install_project() {  # the project with the extras $1 (and pip), by uv or else pip
    local uv=""
    if [ -z "${PATCH_NO_UV:-}" ]; then
        if command -v uv >/dev/null; then
            uv="$(command -v uv)"
        elif [ -x "$venv/bin/uv" ] \
            || python3 -m pip --python "$venv/bin/python" install --no-compile uv; then
            uv="$venv/bin/uv"
        fi
    fi
    if [ -n "$uv" ] && "$uv" pip install --python "$venv/bin/python" pip -e ".[$1]"; then
        return
    fi
    echo "== installing with pip"
    "$venv/bin/python" -m pip --version 2>/dev/null || "$venv/bin/python" -m ensurepip
    "$venv/bin/python" -m pip install --no-compile -e ".[$1]"
}
warm_up() {  # compile (and keep) the bytecode that every test process would compile
    env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" -c "import compileall
compileall.compile_dir('patch', quiet=1)
compileall.compile_dir('pytest_patch', quiet=1)
for name in ('pytest', 'numpy', 'neuron', 'mpi4py', 'hypothesis', 'xdist',
             'pytest_patch.plugin', 'matplotlib.pyplot', 'efel',
             'setuptools.command.build_ext', 'packaging.version', 'find_libpython'):
    try:
        __import__(name)
    except ImportError:  # an extra that is not installed
        pass" &
    local compiling=$!
    if "$venv/bin/python" -c "import pytest" 2>/dev/null; then
        env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" -m pytest --collect-only -q \
            -p no:cacheprovider >/dev/null || true
    fi
    wait "$compiling"
}
if [ "$up_to_date" = 0 ]; then
    # The extras installed before stay (an install for lint.sh also serves the tests).
    if [ "${installed_sha:-} ${installed_path:-}" = "$project" ]; then
        for extra in ${installed_extras//,/ }; do
            case ",$extras," in *",$extra,"*) ;; *) extras="$extras,$extra" ;; esac
        done
    fi
    echo "== installing Patch with [$extras] into $venv (log: $log)"
    # Modules are installed without their bytecode (pip would byte-compile every installed
    # module, sympy's and scipy's thousands included, more than half of its time). One
    # process compiles the project's modules and imports what the test processes (and
    # nrnivmodl) import: those are compiled once, not by each of the parallel run's first
    # processes. With pytest installed, collecting the suite once does the same for what
    # pytest compiles itself: the test modules and the plugins' modules it rewrites. The
    # two run side by side (what both import is written by whichever is first).
    if ! { install_project "$extras" && warm_up; } >"$log" 2>&1; then
        cat "$log"
        echo "installation failed (the log is above)" >&2
        exit 1
    fi
    echo "$project $extras" > "$stamp"
fi
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
# The modules installed without their bytecode are compiled on first use: let Python keep
# what it compiles.
unset PYTHONDONTWRITEBYTECODE
export PATH="$venv/bin:$PATH"
