"""Benchmark: the whole import pipeline vs `psql \\copy` of the same file, the same file imported again, and the
import's peak memory.

    uv run python bench/import_bench.py [--rows 200000] [--rounds 5] [--memory-rows 1000000] [--pg postgresql://...]

Generates a roster of N customers as accountants export them (tests/fakes/roster.py: Swedish, EU and non-EU
businesses, sole traders, about 1 % rows that fail). In each round, back to back, it imports the file with the
real `rostersync import` command into a fresh Postgres schema (VIES off), imports it again (upsert: every row
that went in is skipped, every failing row fails again) and loads it into a table like `customers` with
`psql \\copy`. Prints each round and the medians, then imports a roster of --memory-rows customers once for the
peak memory: the summed PSS of the command and its reading children. The machine's load average is printed
before and after: the ratios are only as good as the machine was quiet.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.roster import MIX, write_roster  # noqa: E402

CLI = Path(sys.executable).with_name("rostersync")
PACKAGES = ("registry", "connectors", "jobs", "worker")
T = TypeVar("T")

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
    "customer_number,name,customer_type,org_number,vat_number,email,phone,address_line1,postal_code,city,country,"
    "default_payment_terms,notes"
)


def psql(pg: str, schema: str, *args: str) -> None:
    env = {**os.environ, "PGOPTIONS": f"-c search_path={schema} -c client_min_messages=warning"}
    subprocess.run(["psql", pg, "-v", "ON_ERROR_STOP=1", "-q", *args], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument(
        "--rounds", type=int, default=5, help="import, re-import and \\copy, back to back; the medians are reported"
    )
    parser.add_argument("--memory-rows", type=int, default=1_000_000, help="rows of the import measured for memory")
    parser.add_argument(
        "--pg", default=os.environ.get("ROSTERSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()

    # As scripts/setup.sh does: the command must not spend its start compiling modules changed since then.
    subprocess.run([sys.executable, "-m", "compileall", "-q", *PACKAGES], cwd=ROOT, check=True, capture_output=True)
    print(f"load average         {_load()}  (before; {os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "customers.csv"
        mix = write_roster(path, args.rows)
        print(f"rows                 {args.rows:>12,} ({path.stat().st_size / 1e6:.1f} MB CSV): {_described(mix)}")
        rounds = [_round(args.pg, path, args.rows, mix["failing"], n) for n in range(1, args.rounds + 1)]
        import_rate = statistics.median(args.rows / r.import_s for r in rounds)
        copy_rate = statistics.median(args.rows / r.copy_s for r in rounds)
        reimport_rate = statistics.median(args.rows / r.reimport_s for r in rounds)
        print(f"rostersync import    {import_rate:>12,.0f} rows/s  (median, whole pipeline, VIES off)")
        print(f"  again (all skipped){reimport_rate:>12,.0f} rows/s  (median)")
        print(f"psql \\copy           {copy_rate:>12,.0f} rows/s  (median)")
        # Each round's runs are back to back on the same machine, whose speed drifts between rounds.
        ratio = statistics.median(r.copy_s / r.import_s for r in rounds)
        print(f"ratio to \\copy       {ratio:>12.2f}  (median of the rounds' ratios; of the medians: "
              f"{import_rate / copy_rate:.2f}; target 0.35)")  # fmt: skip
        again = statistics.median(r.import_s / r.reimport_s for r in rounds)
        print(f"re-import / import   {again:>12.2f}  (speed, median of the rounds' ratios; target 0.5)")
        print(f"import peak memory   {max(r.memory_mb for r in rounds):>12.0f} MB  (all its processes, PSS; "
              f"largest round of {args.rows:,} rows)")  # fmt: skip
    if args.memory_rows:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "customers.csv"
            mix = write_roster(path, args.memory_rows)
            run = _in_schema(args.pg, lambda env: _import(env, path, created=args.memory_rows - mix["failing"]))
        print(f"import of {args.memory_rows:>10,} {args.memory_rows / run.seconds:>8,.0f} rows/s; peak memory "
              f"{run.memory_mb:.0f} MB (all its processes, PSS; target 300 MB)")  # fmt: skip
    # The largest child is an import: psql's footprint is far smaller.
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest process      {largest:>12.0f} MB  (RSS, of every import above)")
    print(f"load average         {_load()}  (after)")


def _described(mix: Counter[str]) -> str:
    rows = sum(count for kind, count in mix.items() if kind != "failing")
    kinds = ", ".join(f"{mix[kind] / rows:.0%} {kind.replace('_', ' ')}" for kind in MIX)
    return f"{kinds}; {mix['failing'] / rows:.1%} failing"


def _load() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


@dataclasses.dataclass
class Run:
    seconds: float
    memory_mb: float
    summary: dict[str, Any]


@dataclasses.dataclass
class Round:
    import_s: float
    reimport_s: float
    copy_s: float
    memory_mb: float


def _round(pg: str, path: Path, rows: int, failing: int, n: int) -> Round:
    """One import, re-import and \\copy of the file, the imports into a fresh schema, \\copy into a fresh table.

    Rounds, because the machine's speed drifts within minutes: runs back to back see the same machine."""

    def measure(env: dict[str, str]) -> Round:
        first = _import(env, path, created=rows - failing)
        pending = _scalar(pg, env["ROSTERSYNC_DATABASE_SCHEMA"], "SELECT count(*) FROM vat_checks")
        again = _import(env, path, skipped=rows - failing)
        psql(pg, env["ROSTERSYNC_DATABASE_SCHEMA"], "-c", COPY_TABLE)
        started = time.perf_counter()
        copy = f"\\copy copy_target ({COPY_COLUMNS}) FROM '{path}' WITH (FORMAT csv, HEADER true, DELIMITER ';')"
        psql(pg, env["ROSTERSYNC_DATABASE_SCHEMA"], "-c", copy)
        copy_s = time.perf_counter() - started
        print(
            f"  round {n}: import {rows / first.seconds:>8,.0f} rows/s ({first.seconds:.1f} s), "
            f"again {rows / again.seconds:>8,.0f} rows/s ({again.seconds:.1f} s), "
            f"\\copy {rows / copy_s:>8,.0f} rows/s ({copy_s:.1f} s), ratio {copy_s / first.seconds:.2f}, "
            f"memory {first.memory_mb:.0f} MB; {pending:,} VAT checks pending"
        )
        return Round(first.seconds, again.seconds, copy_s, max(first.memory_mb, again.memory_mb))

    return _in_schema(pg, measure)


def _in_schema(pg: str, measure: Callable[[dict[str, str]], T]) -> T:
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
        return measure(env)
    finally:
        psql(pg, "public", "-c", f"DROP SCHEMA {schema} CASCADE")


def _import(env: dict[str, str], path: Path, created: int = 0, skipped: int = 0) -> Run:
    """The file imported, timed, with its processes' peak memory; refused unless it created and skipped as many
    rows as expected and failed the rest."""
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
    seconds = time.perf_counter() - started
    sampler.join()
    summary = json.loads(stdout or "{}")
    got = {key: summary.get(key) for key in ("created", "updated", "skipped", "failed")}
    expected = {
        "created": created,
        "updated": 0,
        "skipped": skipped,
        "failed": summary.get("total", 0) - created - skipped,
    }
    if got != expected or proc.returncode != (1 if expected["failed"] else 0):
        raise SystemExit(f"import gave {got} (exit {proc.returncode}), not {expected}: {stderr.decode()[-500:]}")
    return Run(seconds, max(samples, default=0.0), summary)


def _scalar(pg: str, schema: str, query: str) -> int:
    env = {**os.environ, "PGOPTIONS": f"-c search_path={schema}"}
    return int(subprocess.run(["psql", pg, "-tAc", query], env=env, check=True, capture_output=True, text=True).stdout)


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


if __name__ == "__main__":
    main()
