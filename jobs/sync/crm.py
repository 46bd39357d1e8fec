"""Scheduled CRM syncs: pull what changed in a connected system and make the registry match.

New records are bulk-created in 50-item batches, changed ones updated, unchanged ones skipped, barred or inactive
ones archived (and un-archived when they come back). `external_refs` maps each source record to its registry
record with a hash of what it mapped to; an org number that is already in the registry is linked, not
duplicated. Each batch commits its registry writes, refs and run rows together, so a sync that dies is simply
followed by one that finds the finished part unchanged. The cursor advances only when a sync completes.
"""

import hashlib
import inspect
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.crm import CONNECTORS, ConnectorError, ExternalRecord
from jobs.errors import RunError
from jobs.ledger import run_rows, runs
from jobs.ledger.run_rows import ARCHIVED, BatchRows, Counts, Outcome, encode_raw, rejected
from jobs.pipeline.importer import batch_key
from jobs.records import FINISHED, RunSummary, SyncSummary
from jobs.settings import Settings
from jobs.sync import connections
from jobs.vat import VatChecker
from registry.bulk import MAX_ITEMS, bulk_create, store
from registry.clock import now, utc_or_none
from registry.fields import Kind
from registry.ids import as_uuid
from registry.items import Rejected, Valid, duplicate_error, unstorable, validate
from registry.patch import recheck_vat, vat_status
from registry.tables import PARTY_TABLES, external_refs

if TYPE_CHECKING:
    import httpx

# Records changed in the same second as the last sync's start (or while it paged) are read again.
OVERLAP = timedelta(minutes=5)
REIMPORT_LEASE_S = 60.0
UNARCHIVED = "UNARCHIVED"
LINKED = "LINKED"


def record_hash(values: dict[str, Any], archived: bool) -> str:
    return hashlib.sha256(repr((sorted(values.items()), archived)).encode()).hexdigest()


@dataclass
class Planned:
    """One source record on its way: validated, hashed, and what to do with it."""

    record: ExternalRecord
    row_number: int
    model: Valid | Rejected
    values: dict[str, Any] | None
    digest: str | None
    action: str = "create"  # create | update | skip | fail
    entity_id: Any = None
    note: str | None = None  # a code for the row (ARCHIVED, LINKED, ...)
    note_text: str | None = None  # why a row was skipped, when not "unchanged"


class KindSync:
    """Writes one kind (customers or suppliers) of one connection into one run."""

    def __init__(self, engine: AsyncEngine, connection: RowMapping, kind: Kind, run_id: uuid.UUID) -> None:
        self.engine = engine
        self.connection = connection
        self.company_id: str = connection["company_id"]
        self.kind = kind
        self.table = PARTY_TABLES[kind]
        self.run_id = run_id
        self.counts = Counts()
        self.pending_vat: list[dict[str, Any]] = []

    def plan(self, records: Sequence[ExternalRecord], row_numbers: Sequence[int]) -> list[Planned]:
        planned = []
        for record, row_number in zip(records, row_numbers, strict=True):
            model = unstorable(record.payload) or validate(self.kind, record.payload)
            values = None if isinstance(model, Rejected) else model.values
            digest = None if values is None else record_hash(values, record.archived)
            planned.append(Planned(record, row_number, model, values, digest))
        return planned

    async def write(self, records: Sequence[ExternalRecord], row_numbers: Sequence[int], batch_index: int) -> None:
        planned = self.plan(records, row_numbers)
        moment = now()
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # A sync grows external_refs and the registry from empty within one connection's life; a cached
                # generic plan for the lookups from then (a sequential scan) would make every later batch scan
                # the whole table. Only here: for every statement (foreign-key checks included, once per row)
                # it would slow the import down.
                await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            await self._decide(conn, planned)
            for p in planned:
                if p.action == "update":
                    await self._update(conn, p, moment)  # may turn into a create (the record was deleted here)
            await self._create(conn, [p for p in planned if p.action == "create"], batch_index, moment)
            await self._store_refs(conn, [p for p in planned if p.action in ("create", "update")], moment)
            outcomes = [self._outcome(p) for p in planned]
            rows = BatchRows.of(batch_index, outcomes, encode_raw([p.record.raw for p in planned]))
            written = await run_rows.write(conn, self.run_id, [rows])
        self.counts.add(written)

    async def _decide(self, conn: AsyncConnection, planned: list[Planned]) -> None:
        """Skip the unchanged, update the known or linkable, create the rest; fail the invalid."""
        # The same record twice in one batch (offset paging can repeat one across pages): the last one counts.
        last = {p.record.external_id: i for i, p in enumerate(planned)}
        once = []
        for i, p in enumerate(planned):
            if last[p.record.external_id] == i:
                once.append(p)
            else:
                p.action, p.note_text = "skip", "the same record appears again later in this read"
        refs = await self._refs(conn, [p.record.external_id for p in once])
        new = [p for p in once if p.record.external_id not in refs]
        orgs = [p.values["org_number"] for p in new if p.values and p.values.get("org_number")]
        by_org = await self._entities_by_org(conn, orgs)
        linked_now: set[Any] = set()
        for p in once:
            if isinstance(p.model, Rejected):
                p.action = "fail"
                continue
            ref = refs.get(p.record.external_id)
            if ref is not None:
                p.entity_id = ref["entity_id"]
                p.action = "skip" if ref["record_hash"] == p.digest else "update"
                continue
            org = p.values.get("org_number") if p.values else None
            if org and org in by_org:
                entity_id, already_linked = by_org[org]
                if already_linked or entity_id in linked_now:
                    p.action, p.model = (
                        "fail",
                        Rejected(duplicate_error(self.kind, org, "for another record of this system")),
                    )
                else:
                    p.action, p.entity_id, p.note = "update", entity_id, LINKED
                    linked_now.add(entity_id)

    async def _refs(self, conn: AsyncConnection, external_ids: list[str]) -> dict[str, RowMapping]:
        query = select(external_refs).where(
            external_refs.c.connection_id == self.connection["id"],
            external_refs.c.kind == self.kind,
            external_refs.c.external_id.in_(external_ids),
        )
        return {r["external_id"]: r for r in (await conn.execute(query)).mappings()}

    async def _entities_by_org(self, conn: AsyncConnection, orgs: list[str]) -> dict[str, tuple[Any, bool]]:
        """Registry records (of this company) holding these org numbers, and whether this connection already
        maps a record to them."""
        if not orgs:
            return {}
        linked = exists().where(
            external_refs.c.connection_id == self.connection["id"],
            external_refs.c.kind == self.kind,
            external_refs.c.entity_id == self.table.c.id,
        )
        query = select(self.table.c.org_number, self.table.c.id, linked).where(
            self.table.c.company_id == self.company_id, self.table.c.org_number.in_(orgs)
        )
        return {org: (entity, bool(is_linked)) for org, entity, is_linked in await conn.execute(query)}

    async def _create(self, conn: AsyncConnection, planned: list[Planned], batch_index: int, now: datetime) -> None:
        if not planned:
            return
        models = [p.model for p in planned]
        response = await bulk_create(
            conn, self.company_id, self.kind, models, idempotency_key=batch_key(self.run_id, batch_index)
        )
        barred = []
        for p, result in zip(planned, response["results"], strict=True):
            if not result["ok"]:
                p.action, p.model = "fail", Rejected(result["error"])
                continue
            p.entity_id = result["data"]["id"]
            if result["data"].get("vat_check_status") == "pending":
                self.pending_vat.append(result["data"])
            if p.record.archived:
                barred.append(as_uuid(p.entity_id))
                p.note = ARCHIVED
        if barred:  # created already barred in the source: one statement for the batch
            await conn.execute(update(self.table).where(self.table.c.id.in_(barred)).values(archived_at=now))

    async def _update(self, conn: AsyncConnection, p: Planned, now: datetime) -> None:
        """Make the registry record match the source; an org number another record holds fails the row."""
        assert p.values is not None
        table, entity = self.table, as_uuid(p.entity_id)
        current = (
            (await conn.execute(select(table).where(table.c.id == entity, table.c.company_id == self.company_id)))
            .mappings()
            .first()
        )
        if current is None:  # deleted from the registry meanwhile: the ref is stale, create it again
            p.action = "create"
            await conn.execute(delete(external_refs).where(external_refs.c.entity_id == entity))
            return
        values: dict[str, Any] = {**p.values, "updated_at": now}
        if p.record.archived and current["archived_at"] is None:
            values["archived_at"], p.note = now, ARCHIVED
        elif not p.record.archived and current["archived_at"] is not None:
            values["archived_at"], p.note = None, UNARCHIVED
        vat_changed = self.kind == "customers" and values.get("vat_number") != current["vat_number"]
        if vat_changed:
            values.update(vat_number_validated=False, vat_check_status=vat_status(values))
        org = values.get("org_number")
        target = update(table).where(table.c.id == entity, table.c.company_id == self.company_id)
        if org is not None:  # (== None would mean IS NULL: every record without an org number)
            clash = exists().where(
                table.c.company_id == self.company_id, table.c.org_number == org, table.c.id != entity
            )
            target = target.where(~clash.correlate(None))
        done = await conn.execute(target.values(values))
        if done.rowcount != 1:
            p.action, p.model = "fail", Rejected(duplicate_error(self.kind, org or "", "for this company"))
        elif vat_changed:
            await self._recheck_vat(conn, entity, values, now)

    async def _recheck_vat(
        self, conn: AsyncConnection, entity: uuid.UUID, values: dict[str, Any], now: datetime
    ) -> None:
        """A changed VAT number is checked again, as a new one is on commit. Called once the update succeeded,
        so a refused update leaves the customer's pending check alone."""
        checks = [(entity, values["vat_number"], values["vat_check_status"])]
        self.pending_vat.extend(await recheck_vat(conn, self.company_id, checks, now))

    async def _store_refs(self, conn: AsyncConnection, planned: list[Planned], now: datetime) -> None:
        done = [p for p in planned if p.action in ("create", "update") and p.entity_id is not None]
        if not done:
            return
        ids = [p.record.external_id for p in done]
        await conn.execute(
            delete(external_refs).where(
                external_refs.c.connection_id == self.connection["id"],
                external_refs.c.kind == self.kind,
                external_refs.c.external_id.in_(ids),
            )
        )
        await store(conn).append(
            conn,
            external_refs,
            [
                {
                    "connection_id": self.connection["id"],
                    "kind": self.kind,
                    "external_id": p.record.external_id,
                    "entity_id": str(p.entity_id),
                    "record_hash": p.digest,
                    "updated_at": now,
                }
                for p in done
            ],
        )

    def _outcome(self, p: Planned) -> Outcome:
        status = {"create": "created", "update": "updated", "skip": "skipped", "fail": "failed"}[p.action]
        if isinstance(p.model, Rejected):
            return rejected(p.row_number, p.model.error, status)
        entity = str(p.entity_id) if p.entity_id is not None else None
        if p.note is not None:
            return Outcome(p.row_number, status, p.note, entity_id=entity)
        if status == "skipped":
            return Outcome(p.row_number, status, error_message=p.note_text or "unchanged since the last sync",
                           entity_id=entity)  # fmt: skip
        return Outcome(p.row_number, status, entity_id=entity)


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
        base_url = connections.check_base_url(connection["base_url"], settings or Settings())
        secret = connections.credential(connection["credential_ref"], settings)
        connector = CONNECTORS[connection["connector"]](base_url, secret, http, **options)
        for kind in connector.kinds:
            run = await _sync_kind(engine, connection, connector, kind, since, owner, lease_s, vat, full)
            summaries.append(run)
            if run.error:
                error = run.error
                break
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
    connection: RowMapping,
    connector: Any,
    kind: Kind,
    since: datetime | None,
    owner: str,
    lease_s: float,
    vat: VatChecker | None,
    full: bool,
) -> RunSummary:
    run_id = await runs.create_run(
        engine,
        runs.NewRun(
            company_id=connection["company_id"],
            kind=kind,
            source=f"sync:{connection['connector']}",
            source_name=f"connection {connection['id']}",
            options={
                "connection_id": str(connection["id"]),
                "full": full,
                "since": since.isoformat() if since else None,
            },
        ),
    )
    await runs.acquire(engine, run_id, owner, lease_s)
    writer = KindSync(engine, connection, kind, run_id)
    row_number, batch_index = 0, 0
    try:
        async for page in connector.pages(kind, since):
            for start in range(0, len(page), MAX_ITEMS):
                chunk = page[start : start + MAX_ITEMS]
                await writer.write(chunk, range(row_number + 1, row_number + 1 + len(chunk)), batch_index)
                row_number += len(chunk)
                batch_index += 1
            if vat is not None and writer.pending_vat:
                await vat.submit(connection["company_id"], writer.pending_vat, now())
                writer.pending_vat = []
            await runs.heartbeat(engine, run_id, owner, lease_s, writer.counts)
            await connections.renew(engine, connection["id"], owner, lease_s)
    except ConnectorError as exc:
        return await runs.finish(engine, run_id, owner, error=str(exc))
    except BaseException:
        await runs.release(engine, run_id, owner)
        raise
    await runs.heartbeat(engine, run_id, owner, lease_s, writer.counts)
    return await runs.finish(engine, run_id, owner)


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
    stored = [
        (outcome.row_number, raw)
        async for batch in run_rows.rows(engine, parent["id"], failed_only=failed_only)
        for outcome, raw in batch
    ]
    run_id = await runs.create_run(
        engine,
        runs.NewRun(
            company_id=parent["company_id"],
            kind=kind,
            source="reimport",
            source_name=f"run {parent['id']}",
            options={"parent": str(parent["id"]), "failed_only": failed_only, "connection_id": str(connection["id"])},
            total=len(stored),
            parent_run_id=parent["id"],
        ),
    )
    owner = runs.lease_owner()
    # Holding the connection keeps a scheduled sync of it from writing the same records meanwhile.
    await connections.acquire(engine, connection["id"], owner, REIMPORT_LEASE_S)
    try:
        await runs.acquire(engine, run_id, owner, REIMPORT_LEASE_S)
        writer = KindSync(engine, connection, kind, run_id)
        try:
            for batch_index, start in enumerate(range(0, len(stored), MAX_ITEMS)):
                chunk = stored[start : start + MAX_ITEMS]
                records = connector.parse_saved_page([raw for _, raw in chunk], kind, **mapping)
                await writer.write(records, [n for n, _ in chunk], batch_index)
                await runs.heartbeat(engine, run_id, owner, REIMPORT_LEASE_S, writer.counts)
                await connections.renew(engine, connection["id"], owner, REIMPORT_LEASE_S)
        except Exception as exc:  # a sync reimport is not resumable: close it with the reason
            await runs.finish(engine, run_id, owner, error=f"reimport stopped: {exc}")
            raise
        return await runs.finish(engine, run_id, owner)
    finally:
        await connections.release(engine, connection["id"], owner)
