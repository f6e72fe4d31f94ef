#!/usr/bin/env bash
# Sourced by the other scripts: make a virtual environment with the project, its test
# extras and the mpich wheel installed (editable), and put it first on PATH. pip's output
# is kept in $venv/install.log and shown only when the installation fails. An environment
# already installed from this pyproject.toml is used as it is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${PATCH_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
log="$venv/install.log"
stamp="$venv/.patch-installed"
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) $PWD"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "== installing Patch and its test extras into $venv (log: $log)"
    if ! { "$venv/bin/python" -m pip install --upgrade pip \
           && "$venv/bin/python" -m pip install -e '.[test,mpich]'; } >"$log" 2>&1; then
        cat "$log"
        echo "installation failed (the log is above)" >&2
        exit 1
    fi
    echo "$wanted" > "$stamp"
fi
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
export PATH="$venv/bin:$PATH"
