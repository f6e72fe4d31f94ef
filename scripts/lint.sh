#!/usr/bin/env bash
# Lint, format check and type check (CI runs it; so can you before a commit):
#   ruff check, ruff format --check, mypy --strict over patch/ and pytest_patch/.
# `ruff check --fix . && ruff format .` repairs most of what it reports.
set -euo pipefail
PATCH_EXTRAS="test,mpich,lint" source "$(dirname "$0")/setup-venv.sh"
echo "== ruff"
python -m ruff check .
python -m ruff format --check .
echo "== mypy"
python -m mypy
