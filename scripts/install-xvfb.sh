#!/usr/bin/env bash
# The virtual X display under which nrn_scripts items read hoc Graphs (NEURON needs a
# display for them): Debian/Ubuntu's xvfb package, installed as root when missing.
set -euo pipefail
if command -v Xvfb >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "Xvfb is missing and this user cannot install it: apt-get install xvfb (as root)" >&2
    exit 1
fi
echo "== installing xvfb"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq xvfb >/dev/null
