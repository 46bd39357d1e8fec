"""The application layer as the faces use it: lookups scoped by company and by id prefix, cancelling, paging a
run's rows."""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from jobs import app
from jobs.errors import NotFound, RunError
from jobs.ledger import runs
from jobs.records import ImportRequest, ReimportRequest
from registry.tables import customers, import_batches, import_runs
from tests.conftest import ROOT, app_context
from tests.fakes.rows import write_csv

EXAMPLE = ROOT / "examples" / "customers.csv"


async def imported(engine: Any, path: Path = EXAMPLE, company: str = "acme", **settings: Any) -> Any:
    ctx = app_context(engine, **settings)
    return await app.process(ctx, await app.start_import(ctx, ImportRequest(str(path), company, "customers")))


async def test_a_run_is_found_by_a_unique_prefix_and_only_in_its_company(engine: Any) -> None:
    ctx = app_context(engine)
    first, second = await imported(engine), await imported(engine, company="other")
    shared_prefix = (
        uuid.UUID("abcd0000-0000-4000-8000-000000000001"),
        uuid.UUID("abcd1111-0000-4000-8000-000000000002"),
    )
    async with engine.begin() as conn:
        for run, new_id in zip((first, second), shared_prefix, strict=True):
            await conn.execute(update(import_runs).where(import_runs.c.id == run.id).values(id=new_id))
    with pytest.raises(RunError, match="more than one run"):
        await app.get_run(ctx, "abcd")
    assert (await app.get_run(ctx, "ABCD-0")).company_id == "acme"
    assert (await app.get_run(ctx, "abcd", company_id="other")).company_id == "other"  # the only one there
    with pytest.raises(NotFound):
        await app.get_run(ctx, "abcd0", company_id="other")  # another company's run is not found
    with pytest.raises(NotFound, match="at least 4"):
        await app.get_run(ctx, "abc")


async def test_failed_rows_page_by_page_in_source_order(engine: Any) -> None:
    run = await imported(engine)
    ctx = app_context(engine)
    seen, cursor, pages = [], None, 0
    while True:
        page = await app.run_rows_page(ctx, run.run_id, status="failed", cursor=cursor, limit=4)
        seen += page.rows
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == run.failed == 9 and pages == 3
    assert [r.row_number for r in seen] == sorted(r.row_number for r in seen)
    assert all(r.status == "failed" and r.error_code for r in seen)
    assert all(r.source for r in seen)  # each with the values it had in the source
    everything = await app.run_rows_page(ctx, run.run_id, limit=100)
    assert len(everything.rows) == 37 and everything.next_cursor is None
    with pytest.raises(RunError, match="cursor"):
        await app.run_rows_page(ctx, run.run_id, cursor="nonsense")


async def test_a_queued_run_cancelled_never_starts(engine: Any) -> None:
    ctx = app_context(engine)
    started = await app.start_import(ctx, ImportRequest(str(EXAMPLE), "acme", "customers"))
    cancelled = await app.cancel(ctx, started.run.run_id)
    assert (cancelled.status, cancelled.processed) == ("cancelled", 0)
    assert (await app.resume(ctx, started.run.run_id)).status == "cancelled"  # resuming changes nothing
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(customers))).scalar_one() == 0


async def test_a_running_run_cancelled_stops_and_keeps_what_it_wrote(pg_engine: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv", 30_000)
    ctx = app_context(pg_engine, batches_per_commit=1, writers=1, run_lease_s=0.6)
    started = await app.start_import(ctx, ImportRequest(str(path), "acme", "customers"))
    running = asyncio.create_task(app.process(ctx, started))
    while (await app.get_run(ctx, started.run.run_id)).processed == 0:
        await asyncio.sleep(0.05)
    await app.cancel(ctx, started.run.run_id)
    run = await asyncio.wait_for(running, 60)
    assert run.status == "cancelled" and 0 < run.processed < 30_000
    async with pg_engine.connect() as conn:
        written = (await conn.execute(select(func.count()).select_from(customers))).scalar_one()
    assert written == run.created  # every row it wrote is in its ledger, and nothing more


async def test_a_run_whose_process_stopped_says_so(engine: Any) -> None:
    ctx = app_context(engine)
    started = await app.start_import(ctx, ImportRequest(str(EXAMPLE), "acme", "customers"))
    assert not started.run.stale  # queued: waiting for a worker is not stopping
    await runs.acquire(engine, started.run.id, "another-host:4242:abcd", lease_s=0.01)
    await asyncio.sleep(0.05)
    run = await app.get_run(ctx, started.run.run_id)
    assert run.status == "running" and run.stale and run.to_json()["stale"] is True
    assert (await app.resume(ctx, run.run_id)).status == "partially_succeeded"  # what it says to do works


async def test_a_reimport_that_loses_to_a_running_one_ends_saying_why(engine: Any) -> None:
    ctx = app_context(engine)
    parent = await imported(engine)
    first = await app.start_reimport(ctx, ReimportRequest(parent.run_id, failed_only=True))
    second = await app.start_reimport(ctx, ReimportRequest(parent.run_id, failed_only=True))
    await runs.acquire(engine, first.run.id, runs.lease_owner(), lease_s=60)  # the first is being processed
    lost = await app.process(ctx, second)
    assert lost.status == "failed" and "is running" in (lost.error or "")
    assert lost.exit_code == 2  # nothing processed
    assert (await app.get_run(ctx, second.run.run_id)).status == "failed"  # never left `running`


async def test_what_a_dead_worker_left_is_queued_again_once(pg_engine: Any, redis_url: str) -> None:
    from arq.connections import RedisSettings, create_pool

    from jobs.records import NewConnection
    from jobs.sync import connections

    ctx = app_context(pg_engine, redis_url=redis_url, queue_name="q-redispatch")
    started = await app.start_import(ctx, ImportRequest(str(EXAMPLE), "acme", "customers"))
    dead_worker = "gone-host:4242:abcd:arq"
    await runs.acquire(pg_engine, started.run.id, dead_worker, lease_s=0.01)
    mine = await app.start_import(ctx, ImportRequest(str(EXAMPLE), "acme", "customers"))
    await runs.acquire(pg_engine, mine.run.id, "gone-host:4243:abcd", lease_s=0.01)  # an operator's own process
    new = NewConnection("acme", "economic", "http://127.0.0.1:9", "env:ROSTERSYNC_CRED_X", 900)
    connection = await app.add_connection(ctx, new)
    await connections.acquire(pg_engine, connection.id, dead_worker, lease_s=0.01)
    await asyncio.sleep(0.05)

    assert await app.redispatch_orphans(ctx) == 2  # the worker's run and sync; the operator's run waits
    assert await app.redispatch_orphans(ctx) == 0  # asked again (another worker's tick): no second job
    redis = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name="q-redispatch")
    try:
        queued = await redis.queued_jobs()
    finally:
        await redis.aclose()
    assert sorted((job.function, job.args[0]) for job in queued) == sorted(
        [("import_run", started.run.run_id), ("sync_connection", connection.connection_id)]
    )


async def test_a_running_runs_rows_page_without_skipping_a_batch_committed_late(engine: Any) -> None:
    ctx = app_context(engine)
    run = await imported(engine, path=EXAMPLE)
    async with engine.begin() as conn:  # as if batch 0 had not committed yet while the run goes on
        await conn.execute(update(import_runs).where(import_runs.c.id == run.id).values(status="running"))
        hidden = (await conn.execute(select(import_batches).where(import_batches.c.run_id == run.id))).mappings().all()
        await conn.execute(import_batches.delete().where(import_batches.c.run_id == run.id))
    assert len(hidden) == 1  # the example is one batch of 37 rows
    early = await app.run_rows_page(ctx, run.run_id, limit=10)
    assert early.rows == [] and early.next_cursor is not None  # nothing yet, but more will come
    async with engine.begin() as conn:
        await conn.execute(import_batches.insert(), [dict(r) for r in hidden])
    later = await app.run_rows_page(ctx, run.run_id, cursor=early.next_cursor, limit=100)
    assert len(later.rows) == 37 and later.next_cursor is not None  # still running: the cursor stays open
    for wrong in ({"limit": 0}, {"status": "exploded"}):
        with pytest.raises(RunError):
            await app.run_rows_page(ctx, run.run_id, **wrong)
