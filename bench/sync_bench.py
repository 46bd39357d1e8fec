"""Benchmark: syncing customers from the fake e-conomic into Postgres.

    uv run python bench/sync_bench.py [--customers 20000] [--page-size 1000] [--latency 0.05]

Prints the first sync's wall time, pages/s and rows/s, then a second sync with nothing changed (incremental,
as the scheduler runs it) and, for comparison, a full re-read where every record is unchanged.
"""

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.records import NewConnection  # noqa: E402
from jobs.sync import connections, crm  # noqa: E402
from registry.db import create_engine, upgrade  # noqa: E402
from tests.fakes.crm_server import ECONOMIC_CREDENTIAL, EconomicFake, FakeCRM, economic_customer  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument(
        "--pg", default=os.environ.get("ROSTERSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    os.environ["ROSTERSYNC_CRED_BENCH_ECONOMIC"] = ECONOMIC_CREDENTIAL

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.pg)
    await admin.execute(f"CREATE SCHEMA {schema}")
    engine = create_engine(args.pg, schema=schema)
    records = {"customers": [economic_customer(i) for i in range(args.customers)], "suppliers": []}
    try:
        await upgrade(engine)
        with FakeCRM(EconomicFake(), records, latency_s=args.latency) as server:
            async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
                new = NewConnection(
                    "bench",
                    "economic",
                    server.url,
                    "env:ROSTERSYNC_CRED_BENCH_ECONOMIC",
                    900,
                    {"page_size": args.page_size},
                )
                cid = await connections.add(engine, new)
                timings = []
                for full in (False, False, True):
                    pages_before = len(server.requests)
                    started = time.perf_counter()
                    result = await crm.sync(engine, cid, http=http, full=full)
                    timings.append((time.perf_counter() - started, len(server.requests) - pages_before, result))
    finally:
        await engine.dispose()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()

    (first_s, first_pages, first), (second_s, second_pages, second), (full_s, full_pages, full) = timings
    rows = first.processed
    # The pages' own latency, as if they had been read one after another with nothing else to do.
    beyond = first_s - first_pages * args.latency
    print(
        f"first sync           {first_s:8.2f} s  {first_pages} pages ({first_pages / first_s:.1f} pages/s), "
        f"{rows} rows ({rows / first_s:,.0f} rows/s; {rows / beyond:,.0f} rows/s beyond the pages' "
        f"{first_pages * args.latency:.2f} s latency, must be >= 10,000): {first.created} created, "
        f"{first.archived} archived"
    )
    print(
        f"second, unchanged    {second_s:8.2f} s  {second_pages} page(s), {second.processed} rows read "
        f"-> {second_s / first_s:.1%} of the first (must be <= 5%)"
    )
    print(f"full re-read         {full_s:8.2f} s  {full_pages} pages, {full.skipped} skipped, "
          f"{full.created + full.updated} written -> {full_s / first_s:.1%} of the first")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
