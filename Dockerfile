# The rostersync CLI and worker. Build: docker build -t rostersync .
FROM python:3.11-slim
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY registry registry
COPY connectors connectors
COPY jobs jobs
COPY worker worker
RUN uv sync --frozen --no-dev --compile-bytecode
ENV PATH="/app/.venv/bin:$PATH"
WORKDIR /data
ENTRYPOINT ["rostersync"]
CMD ["--help"]
