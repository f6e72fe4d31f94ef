#!/usr/bin/env bash
# Debian/Ubuntu packages the CI run uses, installed as root when missing:
# - xvfb: the virtual X display under which nrn_scripts items read hoc Graphs (NEURON
#   needs a display for them);
# - ccache: the test suite's many nrnivmodl runs of the same sources (CoreNEURON's own
#   mechanisms above all) compile once (scripts/run-tests.sh uses it when present).
set -euo pipefail
missing=()
command -v Xvfb >/dev/null || missing+=(xvfb)
command -v ccache >/dev/null || missing+=(ccache)
if [ ${#missing[@]} = 0 ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "${missing[*]} missing and this user cannot install them: apt-get install ${missing[*]} (as root)" >&2
    exit 1
fi
echo "== installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
