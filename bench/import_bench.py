"""Benchmark: the whole import pipeline vs `psql \\copy` of the same file, and the import's peak memory.

    uv run python bench/import_bench.py [--rows 200000] [--rounds 5] [--pg postgresql://...]

Generates N customer rows; in each round imports them with the real `rostersync import` command into a fresh
Postgres schema (VIES off) and loads the same file into an identical table with `psql \\copy`, back to back.
Prints each round, the median rows/s of both, the median of the rounds' ratios and the import's peak memory: the
summed PSS of its processes (the command and its reading children) and the largest single process's RSS.
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.rows import write_csv  # noqa: E402

CLI = Path(sys.executable).with_name("rostersync")
PACKAGES = ("registry", "connectors", "jobs", "worker")

# The customers table's columns and indexes, with the file's columns taken as they are (text), so \copy
# loads exactly what the import reads.
COPY_TABLE = """
CREATE TABLE copy_target (LIKE customers INCLUDING DEFAULTS INCLUDING INDEXES);
ALTER TABLE copy_target ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN company_id SET DEFAULT 'bench', ALTER COLUMN customer_type SET DEFAULT 'swedish_business',
    ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now(),
    ALTER COLUMN country TYPE text, ALTER COLUMN default_payment_terms TYPE text;
"""
COPY_COLUMNS = (
    "customer_number,name,org_number,vat_number,email,phone,address_line1,postal_code,city,country,"
    "default_payment_terms,notes"
)


def psql(pg: str, schema: str, *args: str) -> None:
    env = {**os.environ, "PGOPTIONS": f"-c search_path={schema} -c client_min_messages=warning"}
    subprocess.run(["psql", pg, "-v", "ON_ERROR_STOP=1", "-q", *args], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument(
        "--rounds", type=int, default=5, help="import + \\copy pairs, back to back; the medians are reported"
    )
    parser.add_argument(
        "--pg", default=os.environ.get("ROSTERSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()

    # As scripts/setup.sh does: the command must not spend its start compiling modules changed since then.
    subprocess.run([sys.executable, "-m", "compileall", "-q", *PACKAGES], cwd=ROOT, check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / "customers.csv", args.rows)
        size_mb = path.stat().st_size / 1e6
        print(f"rows                 {args.rows:>12,} ({size_mb:.1f} MB CSV)")
        rounds = [_round(args.pg, path, args.rows, n) for n in range(1, args.rounds + 1)]

    import_rate = statistics.median(args.rows / i for i, _, _ in rounds)
    copy_rate = statistics.median(args.rows / c for _, c, _ in rounds)
    ratio = statistics.median(c / i for i, c, _ in rounds)
    print(f"rostersync import    {import_rate:>12,.0f} rows/s  (median, whole pipeline, VIES off)")
    print(f"psql \\copy           {copy_rate:>12,.0f} rows/s  (median)")
    # Each round's import and \copy run back to back on the same machine, whose speed drifts between rounds.
    medians = import_rate / copy_rate
    print(f"ratio                {ratio:>12.2f}  (median of the rounds' ratios; of the medians: {medians:.2f})")
    print(f"import peak memory   {max(m for _, _, m in rounds):>12.0f} MB  (all its processes, PSS; largest round)")
    print(f"import peak RSS      {_peak_rss_kb() / 1024:>12.0f} MB  (largest single process)")


def _round(pg: str, path: Path, rows: int, n: int) -> tuple[float, float, float]:
    """One import and one \\copy of the file, each into a fresh schema: their times in seconds and the import's
    peak memory in MB.

    Rounds, because the machine's speed drifts within minutes: a pair run back to back sees the same machine."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "ROSTERSYNC_DATABASE_URL": pg,
        "ROSTERSYNC_DATABASE_SCHEMA": schema,
        "ROSTERSYNC_VIES_ENABLED": "false",
    }
    psql(pg, "public", "-c", f"CREATE SCHEMA {schema}")
    try:
        subprocess.run([str(CLI), "db", "upgrade"], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(CLI), "import", str(path), "--company", "bench", "--kind", "customers", "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        # The memory is sampled beside the import, so the clock stops when the import ends, not at the next sample.
        samples: list[float] = []
        sampler = threading.Thread(target=_sample_footprint, args=(proc, samples))
        sampler.start()
        stdout, stderr = proc.communicate()
        import_s = time.perf_counter() - started
        sampler.join()
        footprint_mb = max(samples, default=0.0)
        summary = json.loads(stdout)
        if summary["created"] != rows:
            raise SystemExit(f"import created {summary['created']} of {rows}: {stderr.decode()[-500:]}")

        psql(pg, schema, "-c", COPY_TABLE)
        started = time.perf_counter()
        copy = f"\\copy copy_target ({COPY_COLUMNS}) FROM '{path}' WITH (FORMAT csv, HEADER true, DELIMITER ';')"
        psql(pg, schema, "-c", copy)
        copy_s = time.perf_counter() - started
    finally:
        psql(pg, "public", "-c", f"DROP SCHEMA {schema} CASCADE")
    print(
        f"  round {n}: import {rows / import_s:>8,.0f} rows/s ({import_s:.1f} s), "
        f"\\copy {rows / copy_s:>8,.0f} rows/s ({copy_s:.1f} s), ratio {copy_s / import_s:.2f}, "
        f"import memory {footprint_mb:.0f} MB"
    )
    return import_s, copy_s, footprint_mb


def _sample_footprint(proc: subprocess.Popen[bytes], samples: list[float]) -> None:
    """Sample the memory of the import's processes (the command and its reading children) until it ends: the
    summed PSS of each sample, in MB. PSS counts the pages a forked child shares with its parent once, where
    summed RSS would count them twice."""
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        total = 0
        with contextlib.suppress(psutil.Error):
            for process in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += process.memory_full_info().pss
        samples.append(total / 2**20)
        time.sleep(0.2)


def _peak_rss_kb() -> int:
    import resource

    # The largest child is an import: psql's footprint is far smaller.
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


if __name__ == "__main__":
    main()
