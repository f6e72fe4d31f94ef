#!/usr/bin/env bash
# Sourced by the other scripts: make a virtual environment with the project and the extras
# in $PATCH_EXTRAS (default: test,mpich; lint.sh adds lint) installed (editable), and put
# it first on PATH. pip's output is kept in $venv/install.log and shown only when the
# installation fails. An environment already installed from this pyproject.toml (and
# setup.py, patch/_speedups.c) with these extras (or more) is used as it is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${PATCH_VENV:-.venv}"
extras="${PATCH_EXTRAS:-test,mpich}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
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
if [ "$up_to_date" = 0 ]; then
    # The extras installed before stay (an install for lint.sh also serves the tests).
    if [ "${installed_sha:-} ${installed_path:-}" = "$project" ]; then
        for extra in ${installed_extras//,/ }; do
            case ",$extras," in *",$extra,"*) ;; *) extras="$extras,$extra" ;; esac
        done
    fi
    echo "== installing Patch with [$extras] into $venv (log: $log)"
    # --no-compile: pip would byte-compile every installed module (sympy's and scipy's
    # thousands, numpy's tests, ...), more than half of the install's time. One process
    # importing what the test processes import compiles just those, once (else the first
    # processes of a parallel run would each compile the same modules).
    if ! { "$venv/bin/python" -m pip install --no-compile -e ".[$extras]" \
           && env -u PYTHONDONTWRITEBYTECODE "$venv/bin/python" -c \
                "for name in ('pytest', 'numpy', 'neuron', 'mpi4py', 'hypothesis', 'xdist',
             'pytest_patch.plugin', 'matplotlib.pyplot', 'efel'):
    try:
        __import__(name)
    except ImportError:  # an extra that is not installed
        pass"; } >"$log" 2>&1; then
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
