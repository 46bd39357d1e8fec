"""Benchmark: VIES checks during an import, and the client under a slow VIES.

    uv run python bench/vies_bench.py [--rows 2000] [--unique 500] [--latency 0.2] [--per-state 2]
    uv run python bench/vies_bench.py --slow [--numbers 300] [--states 3] [--slow-latency 1.5] [--slow-share 1]
        [--timeout 1.0] [--budget 20] [--breaker 5] [--per-state 2] [--latency 0.2]

Imports N EU customers sharing U unique VAT numbers across 5 member states into Postgres, once with VIES off
and once against the fake VIES on 127.0.0.1 (fixed latency, per-state concurrency limit enforced by the fake).
Prints the VIES calls made and the wall times next to the ideal: U x latency / (per-state limit x 5 states).

With --slow, no import: the client checks the numbers itself against a fake whose slow requests (all, or
--slow-share of them) outlast the client's timeout and keep their member state's slot meanwhile, as VIES's
do. Prints the share of calls answered MS_MAX_CONCURRENT_REQ, and checks that every number ended as the fake
says (valid/invalid) or pending, never invalid for want of an answer.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.vies import ViesAnswer, ViesClient, ViesTransientError  # noqa: E402
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


async def slow_vies(args: argparse.Namespace) -> None:
    states = VAT_STATES[: args.states]
    numbers = [f"{states[i % len(states)]}{100000000 + i}" for i in range(args.numbers)]
    valid = set(numbers[::2])
    share = args.slow_share
    with FakeVies(
        valid_numbers=valid,
        latency_s=args.latency,
        per_state_limit=args.per_state,
        mode="slow" if share >= 1 else "ok",
        slow_s=args.slow_latency,
        slow_rate=share,
    ) as fake:
        async with httpx.AsyncClient(trust_env=False) as http:
            client = ViesClient(
                http,
                fake.url,
                per_state_limit=args.per_state,
                request_timeout_s=args.timeout,
                retry_budget_s=args.budget,
                breaker_threshold=args.breaker,
            )
            started = time.perf_counter()
            results = await asyncio.gather(*(client.check(n) for n in numbers), return_exceptions=True)
            elapsed = time.perf_counter() - started
        answered = dict(fake.outcomes)
        calls = len(fake.calls)
    ended: Counter[str] = Counter()
    wrong = 0
    for number, result in zip(numbers, results, strict=True):
        if isinstance(result, ViesAnswer):
            ended["valid" if result.valid else "invalid"] += 1
            wrong += result.valid != (number in valid)
        elif isinstance(result, ViesTransientError):
            ended["pending"] += 1
        else:
            ended[f"error {result!r}"] += 1
            wrong += 1
    over = answered.get("MS_MAX_CONCURRENT_REQ", 0)
    print(f"numbers checked          {args.numbers:>8} ({len(states)} states, {args.per_state} per state at the fake)")
    print(f"slow requests            {share:>8.0%} take {args.slow_latency} s; client timeout {args.timeout} s")
    print(f"VIES calls               {calls:>8} (answers {answered})")
    print(f"over the limit           {over:>8} = {over / max(calls, 1):.1%} of the calls")
    print(f"numbers ended            {dict(ended)}; not as the fake says: {wrong}")
    print(f"time                     {elapsed:>8.2f} s  -> {'OK' if wrong == 0 else 'WRONG'}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--unique", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--per-state", type=int, default=2)
    parser.add_argument(
        "--pg", default=os.environ.get("ROSTERSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--slow", action="store_true", help="the client alone, against a slow VIES")
    parser.add_argument("--numbers", type=int, default=300)
    parser.add_argument("--states", type=int, default=3)
    parser.add_argument("--slow-latency", type=float, default=1.5)
    parser.add_argument("--slow-share", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--breaker", type=int, default=5)
    args = parser.parse_args()
    if args.slow:
        await slow_vies(args)
        return

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
