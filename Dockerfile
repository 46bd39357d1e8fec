# The rostersync CLI, worker and HTTP API; docker compose builds it once as rostersync:local for every service.
# Alone: docker build -t rostersync . (needs BuildKit, the default builder, for the uv cache mount).
FROM python:3.11-slim

# uv pinned so a rebuild resolves and installs the lock the same way it did on the machine that wrote it.
RUN pip install --no-cache-dir uv==0.13.9

# UV_LINK_MODE=copy: the cache mount is another filesystem, so hard links into the venv cannot work.
# UV_PYTHON_DOWNLOADS=never: use the image's Python, never fetch another one.
ENV UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:$PATH"

# An unprivileged user to run as, owning /data: the working directory, where files to import are mounted
# and where the default SQLite file would go.
RUN groupadd --system --gid 10001 rostersync \
    && useradd --system --uid 10001 --gid rostersync --create-home rostersync \
    && mkdir -p /data \
    && chown rostersync:rostersync /data

WORKDIR /app

# Dependencies alone first: this layer is rebuilt only when the lock changes, not on every code edit.
# README.md because pyproject names it as the readme.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --compile-bytecode

# Then the project itself. --no-editable installs it into site-packages, where its bytecode is compiled
# here: the unprivileged user could not write __pycache__ next to the sources at run time.
COPY registry registry
COPY connectors connectors
COPY jobs jobs
COPY worker worker
COPY api api
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --compile-bytecode

# Numeric, so a runtime that enforces non-root (Kubernetes' runAsNonRoot) can verify it.
USER 10001:10001
WORKDIR /data

ENTRYPOINT ["rostersync"]
CMD ["--help"]
