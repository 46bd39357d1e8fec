"""Benchmark: the HTTP API against the same work done without it.

    uv run python bench/api_bench.py [--clients 16] [--batches 20] [--rows 200000] [--upload-mb 200]
                                     [--parts bulk,import,upload]

(a) bulk-create: 50-item batches from `--clients` concurrent HTTP clients against `rostersync serve`, then the
    same batches through the in-process bulk-create from as many tasks: items/s and p50/p99 latency of each.
(b) import: a `--rows` file uploaded to the API (streamed body) until its run finishes, against
    `rostersync import` of the same file.
(c) upload: the API process's peak RSS while a file just under an upload limit of `--upload-mb` MB (the
    default limit: 200) is uploaded, stored and previewed (not run), as the body and as a multipart part.
Each part on a fresh Postgres schema, VIES off; the rows are a mix of Swedish, EU and non-EU customers.
"""

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry.bulk import bulk_create  # noqa: E402
from registry.db import create_engine  # noqa: E402
from tests.fakes.rows import HEADERS, customer_row, write_csv  # noqa: E402

CLI = Path(sys.executable).with_name("rostersync")
BULK = "/api/v1/companies/bench/customers/bulk-create"
WORKERS = int(os.environ.get("ROSTERSYNC_BENCH_WORKERS", "1"))  # `serve --workers`
PG = os.environ.get("ROSTERSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
FIELDS = ("customer_number", "name", "org_number", "vat_number", "email", "phone", "address_line1", "postal_code",
          "city", "country", "default_payment_terms", "notes")  # fmt: skip
assert len(FIELDS) == len(HEADERS)


def payload(i: int) -> dict[str, Any]:
    """Row i of the benchmark's mix (every 4th an EU business with a VAT number) as an API item."""
    row = dict(zip(FIELDS, customer_row(i, eu_every=4, unique_vat=100_000), strict=True))
    return {k: (int(v) if k == "default_payment_terms" else v) for k, v in row.items() if v}


@contextlib.contextmanager
def schema_env(upload_limit_mb: int = 200) -> Iterator[dict[str, str]]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "ROSTERSYNC_DATABASE_URL": PG, "ROSTERSYNC_DATABASE_SCHEMA": schema,
           "ROSTERSYNC_VIES_ENABLED": "false", "ROSTERSYNC_UPLOAD_LIMIT_MB": str(upload_limit_mb)}  # fmt: skip
    env.pop("ROSTERSYNC_REDIS_URL", None)
    quiet = {**os.environ, "PGOPTIONS": "-c client_min_messages=warning"}
    subprocess.run(["psql", PG, "-q", "-c", f"CREATE SCHEMA {schema}"], check=True, env=quiet)
    try:
        subprocess.run([str(CLI), "db", "upgrade"], env=env, check=True, capture_output=True)
        yield env
    finally:
        subprocess.run(["psql", PG, "-q", "-c", f"DROP SCHEMA {schema} CASCADE"], check=True, env=quiet)


@contextlib.contextmanager
def server(env: dict[str, str]) -> Iterator[tuple[str, str, psutil.Process]]:
    """`rostersync serve` on a free port: its URL, a key with every scope, and its process."""
    made = subprocess.run(
        [str(CLI), "keys", "create", "--company", "bench", "--scopes",
         "customers:write,imports:write", "--json"], env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    key = json.loads(made.stdout)["key"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = [str(CLI), "serve", "--port", str(port), "--workers", str(WORKERS)]
    proc = subprocess.Popen(serve, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield url, key, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def _drive(call: Callable[[list[dict[str, Any]]], Awaitable[None]], batches: list[list[dict[str, Any]]],
                 clients: int) -> list[float]:  # fmt: skip
    """`call` for every batch from `clients` concurrent tasks: the latency of each call."""
    latencies: list[float] = []
    work: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        work.put_nowait(batch)

    async def client() -> None:
        while not work.empty():
            batch = work.get_nowait()
            started = time.perf_counter()
            await call(batch)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


async def _http_bulk(
    url: str, key: str, warm: list[list[dict[str, Any]]], batches: list[list[dict[str, Any]]], clients: int
) -> tuple[float, list[float]]:
    """The seconds `batches` took, and each one's latency. One client with a keep-alive connection for each
    task, made before the clock starts: an httpx client loads the CA certificates when it is made (tens of
    milliseconds of CPU), work the in-process side does not have either."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                                 limits=limits) as http:  # fmt: skip

        async def send(batch: list[dict[str, Any]]) -> None:
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            answer = await http.post(BULK, json={"customers": batch}, headers=headers)
            if answer.status_code != 200 or answer.json()["data"]["summary"]["failed"]:
                raise SystemExit(f"bulk-create failed: {answer.text[:300]}")

        await _drive(send, warm, clients)
        started = time.perf_counter()
        latencies = await _drive(send, batches, clients)
        return time.perf_counter() - started, latencies


async def _direct_bulk(
    env: dict[str, str], warm: list[list[dict[str, Any]]], batches: list[list[dict[str, Any]]], clients: int
) -> tuple[float, list[float]]:
    """As `_http_bulk`, through the application layer: the same engine (its connections open) for both."""
    engine = create_engine(PG, schema=env["ROSTERSYNC_DATABASE_SCHEMA"], pool_size=clients)

    async def send(batch: list[dict[str, Any]]) -> None:
        async with engine.begin() as conn:
            await bulk_create(conn, "bench", "customers", batch, idempotency_key=str(uuid.uuid4()))

    try:
        await _drive(send, warm, clients)
        started = time.perf_counter()
        latencies = await _drive(send, batches, clients)
        return time.perf_counter() - started, latencies
    finally:
        await engine.dispose()


def bulk(clients: int, n_batches: int) -> None:
    """Each side first sends a batch per client, unmeasured: connections opened, modules loaded, caches warm."""
    warm = [[payload(3_000_000 + b * 50 + i) for i in range(50)] for b in range(clients)]
    batches = [[payload(b * 50 + i) for i in range(50)] for b in range(n_batches)]
    items = n_batches * 50
    with schema_env() as env, server(env) as (url, key, _):
        http_s, over_http = asyncio.run(_http_bulk(url, key, warm, batches, clients))
    with schema_env() as env:
        direct_s, direct = asyncio.run(_direct_bulk(env, warm, batches, clients))
    for name, seconds, latencies in (("HTTP API", http_s, over_http), ("in-process", direct_s, direct)):
        p50, p99 = (_percentile(latencies, p) * 1000 for p in (0.5, 0.99))
        print(f"bulk-create {name:<11} {items / seconds:>9,.0f} items/s  p50 {p50:>6.0f} ms  p99 {p99:>6.0f} ms  "
              f"({clients} clients, {n_batches} batches of 50)")  # fmt: skip
    print(f"bulk-create ratio     {direct_s / http_s:>9.2f}  (HTTP / in-process throughput)")


def _finished(url: str, key: str, run_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    while True:
        run = httpx.get(f"{url}/api/v1/companies/bench/imports/{run_id}", headers=headers, timeout=30).json()["data"]
        if run["finished_at"]:
            return run
        time.sleep(0.05)


def _upload(url: str, key: str, path: Path, multipart: bool = False, **params: str) -> dict[str, Any]:
    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                yield block

    endpoint, auth = f"{url}/api/v1/companies/bench/imports", {"Authorization": f"Bearer {key}"}
    options = {"kind": "customers", "filename": path.name, **params}
    if multipart:
        with open(path, "rb") as f:
            answer = httpx.post(endpoint, files={"file": (path.name, f, "text/csv")}, data=options, headers=auth,
                                timeout=600)  # fmt: skip
    else:
        answer = httpx.post(endpoint, content=chunks(), params=options, timeout=600,
                            headers={**auth, "Content-Type": "text/csv"})  # fmt: skip
    if answer.status_code != 201:
        raise SystemExit(f"upload failed: {answer.text[:300]}")
    return dict(answer.json()["data"])


def import_vs_cli(rows: int, tmp: Path) -> None:
    path = write_csv(tmp / "customers.csv", rows, eu_every=4, unique_vat=100_000)
    with schema_env() as env:
        started = time.perf_counter()
        subprocess.run([str(CLI), "import", str(path), "--company", "bench", "--kind", "customers", "--json"],
                       env=env, check=True, capture_output=True)  # fmt: skip
        cli_s = time.perf_counter() - started
    with schema_env() as env, server(env) as (url, key, _):
        started = time.perf_counter()
        run = _finished(url, key, _upload(url, key, path)["id"])
        api_s = time.perf_counter() - started
    print(f"import via CLI        {rows / cli_s:>9,.0f} rows/s  ({cli_s:.1f} s, {rows:,} rows)")
    print(f"import via API        {rows / api_s:>9,.0f} rows/s  ({api_s:.1f} s, upload until finished; "
          f"{run['created']:,} created)")  # fmt: skip
    print(f"import ratio          {cli_s / api_s:>9.2f}  (API / CLI)")


def _file_of(path: Path, size: int) -> Path:
    """A CSV of the benchmark's mix, as many whole rows as fit in `size` bytes."""
    write_csv(path, size // 110, eu_every=4, unique_vat=100_000)  # a row of the mix is 127 bytes on average
    with open(path, "r+b") as f:
        f.seek(size - (1 << 16))
        f.truncate(size - (1 << 16) + f.read(1 << 16).rfind(b"\n") + 1)
    return path


def _measured_upload(path: Path, limit_mb: int, multipart: bool) -> tuple[float, int, int]:
    """Seconds, and the API process's RSS at start and at its peak, while `path` is uploaded, stored and
    previewed (not run)."""
    with schema_env(upload_limit_mb=limit_mb) as env, server(env) as (url, key, proc):
        peak = [proc.memory_info().rss]
        done = threading.Event()

        def sample() -> None:
            # With `serve --workers N` the requests go to the children: the largest process is the one.
            while not done.is_set():
                with contextlib.suppress(psutil.Error):
                    peak.append(max(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        try:
            _upload(url, key, path, multipart, mapping_step="true")
        finally:
            done.set()
            sampler.join()
        return time.perf_counter() - started, peak[0], max(peak)


def upload_memory(limit_mb: int, tmp: Path) -> None:
    path = _file_of(tmp / "big.csv", limit_mb * 1_000_000)
    size = path.stat().st_size / 1e6
    for multipart in (False, True):
        seconds, start, peak = _measured_upload(path, limit_mb, multipart)
        how = "multipart" if multipart else "body"
        print(f"upload {size:,.0f} MB {how:<9} {size / seconds:>6,.1f} MB/s  API process peak RSS "
              f"{peak / 2**20:.0f} MB (at start {start / 2**20:.0f} MB)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batches", type=int, default=20, help="per client")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--upload-mb", type=int, default=200, help="the upload limit; the file is just under it")
    parser.add_argument("--parts", default="bulk,import,upload", help="which parts to run, comma-separated")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if "bulk" in parts:
        bulk(args.clients, args.clients * args.batches)
    with tempfile.TemporaryDirectory() as tmp:
        if "import" in parts:
            import_vs_cli(args.rows, Path(tmp))
        if "upload" in parts:
            upload_memory(args.upload_mb, Path(tmp))


if __name__ == "__main__":
    main()
