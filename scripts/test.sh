#!/usr/bin/env bash
# The test command: installs the locked environment, checks services, then lint, types and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/services.sh
uv run --frozen ruff check .
uv run --frozen ruff format --check .
uv run --frozen mypy
# One test process per core: most tests wait on a CLI subprocess, a database or a fake server.
uv run --frozen pytest -n auto "$@"
