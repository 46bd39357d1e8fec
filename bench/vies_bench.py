"""Benchmark: VIES checks during an import.

    uv run python bench/vies_bench.py [--rows 2000] [--unique 500] [--latency 0.2] [--per-state 2]

Imports N EU customers sharing U unique VAT numbers across 5 member states into Postgres, once with VIES off
and once against the fake VIES on 127.0.0.1 (fixed latency, per-state concurrency limit enforced by the fake).
Prints the VIES calls made and the wall times next to the ideal: U x latency / (per-state limit x 5 states).
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.vies import ViesClient  # noqa: E402
from jobs.pipeline import importer, starting  # noqa: E402
from jobs.records import ImportRequest  # noqa: E402
from jobs.vat import VatChecker  # noqa: E402
from registry.db import create_engine, upgrade  # noqa: E402
from tests.fakes.rows import VAT_STATES, write_csv  # noqa: E402
from tests.fakes.vies_server import FakeVies  # noqa: E402


async def timed_import(pg: str, path: Path, vat_for: "callable") -> tuple[float, dict]:  # type: ignore[valid-type]
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg)
    await admin.execute(f"CREATE SCHEMA {schema}")
    engine = create_engine(pg, schema=schema)
    try:
        await upgrade(engine)
        vat = vat_for(engine)
        started = time.perf_counter()
        run_id, opened = await starting.start_import(engine, ImportRequest(str(path), "bench", "customers"))
        run = await importer.run_import(engine, run_id, opened=opened, vat=vat)
        elapsed = time.perf_counter() - started
        outcomes = dict(vat.outcomes) if vat is not None else {}
        return elapsed, {"created": run.created, **outcomes}
    finally:
        await engine.dispose()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--unique", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--per-state", type=int, default=2)
    parser.add_argument(
        "--pg", default=os.environ.get("ROSTERSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / "eu.csv", args.rows, eu_every=1, unique_vat=args.unique)
        without_s, _ = await timed_import(args.pg, path, lambda engine: None)
        with FakeVies(default_valid=True, latency_s=args.latency, per_state_limit=args.per_state) as fake:
            async with httpx.AsyncClient(trust_env=False) as http:
                client = ViesClient(http, fake.url, per_state_limit=args.per_state)
                with_s, outcome = await timed_import(args.pg, path, lambda engine: VatChecker(engine, client))
            calls = len(fake.calls)
            forced = calls - args.unique

    ideal = args.unique * args.latency / (args.per_state * len(VAT_STATES))
    limit = 1.5 * ideal + without_s
    print(f"customers imported       {args.rows:>8} ({args.unique} unique VAT numbers, {len(VAT_STATES)} states)")
    print(f"VIES calls               {calls:>8} (unique numbers {args.unique}; extra calls {forced})")
    print(f"outcomes                 {outcome}")
    print(f"import without VIES      {without_s:>8.2f} s")
    print(f"import with VIES         {with_s:>8.2f} s")
    print(f"ideal VIES time          {ideal:>8.2f} s  (unique x latency / (per-state limit x states))")
    print(f"limit 1.5 x ideal + bare {limit:>8.2f} s  -> {'OK' if with_s <= limit else 'OVER'}")


if __name__ == "__main__":
    asyncio.run(main())
