"""Scheduled CRM syncs: pull what changed in a connected system and make the registry match.

A sync goes through the write pipeline every import takes (`jobs.pipeline.importer`): its records are an input
(`jobs.sync.source`), matched by their refs and then by the usual keys (`jobs.pipeline.refs`), written in
50-item batches, each row's outcome in the run's ledger. New records are created, changed ones updated,
unchanged ones skipped, barred or inactive ones archived (and un-archived when they come back), and a record the
registry has already (by org number, customer or supplier number, VAT number) is linked, not duplicated. Each
group of batches commits its registry writes, refs and run rows together, so a sync that dies is simply followed
by one that finds the finished part unchanged. The cursor advances only when a sync completes.
"""

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.crm import CONNECTORS
from jobs.errors import RunError
from jobs.ledger import run_rows, runs
from jobs.pipeline.importer import run_import
from jobs.records import FINISHED, RunSummary, SyncSummary
from jobs.settings import Settings
from jobs.sync import connections
from jobs.sync.source import PagesInput, StoredRecordsInput
from jobs.vat import VatChecker
from registry.clock import now, utc_or_none
from registry.fields import Kind

if TYPE_CHECKING:
    import httpx

# Records changed in the same second as the last sync's start (or while it paged) are read again.
OVERLAP = timedelta(minutes=5)
REIMPORT_LEASE_S = 60.0


async def sync(
    engine: AsyncEngine,
    connection_id: uuid.UUID | str,
    *,
    http: "httpx.AsyncClient",
    vat: VatChecker | None = None,
    full: bool = False,
    lease_s: float = 60.0,
    owner: str | None = None,
    settings: Settings | None = None,
) -> SyncSummary:
    """One sync of one connection: a run per kind; returns a summary. Raises SyncBusy when another process
    is syncing this connection."""
    settings = settings or Settings()
    row = await connections.get(engine, connection_id)
    owner = owner or runs.lease_owner()
    connection = await connections.acquire(engine, row["id"], owner, lease_s)
    started = now()
    summaries: list[RunSummary] = []
    error: str | None = None
    completed = False
    try:
        await runs.close_orphans(
            engine, f"connection {connection['id']}", "the sync process died; a later sync read these records again"
        )
        cursor = utc_or_none(connection["cursor"])
        since = None if full or cursor is None else cursor - OVERLAP
        options = connection["options"] or {}
        # A row stored before the rules on secrets and base URLs may point anywhere: nothing is sent there.
        base_url = connections.check_base_url(connection["base_url"], settings)
        secret = connections.credential(connection["credential_ref"], settings)
        connector = CONNECTORS[connection["connector"]](base_url, secret, http, **options)
        args = (connection, connector, since, owner, lease_s, vat, full, settings)
        if engine.dialect.name == "sqlite":
            # One writer: two kinds writing at once wait on each other's locks, and a kind cancelled in the middle
            # of its transaction left the database locked for the release below.
            summaries = [await _sync_kind(engine, kind, *args) for kind in connector.kinds]
        else:
            # The kinds at once: their runs are apart, and an unchanged sync is then one page's wait, not one a kind.
            kinds = [asyncio.ensure_future(_sync_kind(engine, kind, *args)) for kind in connector.kinds]
            try:
                summaries = list(await asyncio.gather(*kinds))
            finally:
                for task in kinds:
                    task.cancel()
                await asyncio.gather(*kinds, return_exceptions=True)  # their runs let go of their leases first
        error = next((run.error for run in summaries if run.error), None)
        if vat is not None:
            await vat.drain()
        completed = error is None
    except RunError as exc:  # e.g. the credential variable is not set
        error = str(exc)
    finally:
        # Whatever ended it (an error, a cancelled job, a database failure), only a sync that read everything
        # moves the cursor; otherwise the records it never reached would be skipped for good.
        finished = now()
        values: dict[str, Any] = {
            "last_status": "succeeded" if completed else "failed",
            "last_sync_at": finished,
            "next_sync_at": finished + timedelta(seconds=connection["every_s"]),
        }
        if completed:
            values["cursor"] = started
        await connections.release(engine, connection["id"], owner, **values)
    return _summary(connection, summaries, error)


async def _sync_kind(
    engine: AsyncEngine,
    kind: Kind,
    connection: RowMapping,
    connector: Any,
    since: datetime | None,
    owner: str,
    lease_s: float,
    vat: VatChecker | None,
    full: bool,
    settings: Settings,
) -> RunSummary:
    new_run = runs.NewRun(
        company_id=connection["company_id"],
        kind=kind,
        source=f"sync:{connection['connector']}",
        source_name=f"connection {connection['id']}",
        options={"connection_id": str(connection["id"]), "full": full, "since": since.isoformat() if since else None},
    )

    renewed = time.monotonic()

    async def renew() -> None:
        # Often enough to keep the connection's lease, and not a transaction for every page.
        nonlocal renewed
        if time.monotonic() - renewed > lease_s / 3:
            await connections.renew(engine, connection["id"], owner, lease_s)
            renewed = time.monotonic()

    tuning = replace(settings.tuning(), lease_s=lease_s)
    async with PagesInput(connector.pages(kind, since), renew) as inp:
        run_id = await runs.create_run(engine, new_run)
        return await run_import(engine, run_id, opened=inp, tuning=tuning, vat=vat, owner=owner)


def _summary(connection: RowMapping, summaries: list[RunSummary], error: str | None) -> SyncSummary:
    if error:
        status = "failed"
    elif any(run.failed for run in summaries):
        status = "partially_succeeded"
    else:
        status = "succeeded"
    return SyncSummary(
        connection_id=str(connection["id"]),
        status=status,
        connector=connection["connector"],
        company_id=connection["company_id"],
        runs=summaries,
        error=error,
    )


def _mapping_options(connector: type[Any], options: dict[str, Any]) -> dict[str, Any]:
    """The connection options that steer mapping (e.g. e-conomic's home country), not HTTP."""
    accepted = inspect.signature(connector._set_options).parameters
    return {k: v for k, v in options.items() if k in accepted}


async def reimport(engine: AsyncEngine, parent_id: str, *, failed_only: bool) -> RunSummary:
    """Run a sync run's stored source records through the sync again, as a new run linked to it.

    No request is made: the records are mapped again from what the run stored (so a mapping fix applies),
    and the refs keep anything already in the registry from being created twice."""
    parent = await runs.get_run(engine, parent_id)
    if parent["status"] not in FINISHED:
        raise RunError(f"run {parent['id']} has not finished ({parent['status']})")
    connection = await connections.get(engine, parent["options"]["connection_id"])
    connector = CONNECTORS[connection["connector"]]
    mapping = _mapping_options(connector, connection["options"] or {})
    kind: Kind = parent["kind"]

    async def stored() -> AsyncIterator[list[tuple[int, Any]]]:
        async for batch in run_rows.rows(engine, parent["id"], failed_only=failed_only):
            yield [(outcome.row_number, raw) for outcome, raw in batch]

    total = parent["failed"] if failed_only else parent["processed"]
    inp = StoredRecordsInput(stored(), lambda raws: connector.parse_saved_page(raws, kind, **mapping), total)
    run_id = await runs.create_run(
        engine,
        runs.NewRun(
            company_id=parent["company_id"],
            kind=kind,
            source="reimport",
            source_name=f"run {parent['id']}",
            options={"parent": str(parent["id"]), "failed_only": failed_only, "connection_id": str(connection["id"])},
            total=total,
            parent_run_id=parent["id"],
        ),
    )
    owner = runs.lease_owner()
    # Holding the connection keeps a scheduled sync of it from writing the same records meanwhile.
    await connections.acquire(engine, connection["id"], owner, REIMPORT_LEASE_S)
    try:
        tuning = replace(Settings().tuning(), lease_s=REIMPORT_LEASE_S)
        return await run_import(engine, run_id, opened=inp, tuning=tuning, owner=owner)
    except Exception as exc:
        # Not resumable (a sync run's records are not an input `resume` opens): closed with the reason. The
        # connection's lease means no other reimport of this run is under way.
        await runs.close_orphans(engine, f"run {parent['id']}", f"reimport stopped: {exc}")
        raise
    finally:
        await connections.release(engine, connection["id"], owner)
