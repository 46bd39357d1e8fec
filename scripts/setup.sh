#!/usr/bin/env bash
# The locked environment, with every module compiled ahead: a CLI process must not spend its first seconds
# compiling the libraries it imports (this matters where PYTHONDONTWRITEBYTECODE is set, and for workers).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
uv sync --frozen --quiet --compile-bytecode
uv run --frozen python -m compileall -q registry connectors jobs worker >/dev/null
