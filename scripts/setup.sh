#!/usr/bin/env bash
# The locked environment, with every module compiled ahead: a CLI process must not spend its first seconds
# compiling the libraries it imports (this matters where PYTHONDONTWRITEBYTECODE is set, and for workers).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
# The interpreter. uv takes the first Python on PATH, which may be a version manager's build (pyenv compiles
# without profile-guided and link-time optimisation unless told to): imports are slower there than on the
# distribution's CPython, which is built with both, as the Docker image's is. UV_PYTHON chooses another.
if [ -z "${UV_PYTHON:-}" ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  export UV_PYTHON=/usr/bin/python3
fi
uv sync --frozen --quiet --compile-bytecode
uv run --frozen python -m compileall -q registry connectors jobs worker >/dev/null
