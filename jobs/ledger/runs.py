"""Durable runs: creation, the lease that says which process works on a run, progress and final counts.

The database is the truth about a run. Redis only carries the job; a run whose process died is found by its
expired lease (or, on the same host, by its owner's pid being gone) and can be resumed.
"""

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, case, cast, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobs import uploads
from jobs.errors import NotFound, RunError
from jobs.ledger import run_rows
from jobs.ledger.run_rows import Counts
from jobs.records import AWAITING_MAPPING, FINISHED, FamilyCounts, RunSummary
from registry.clock import now, utc, utc_or_none
from registry.fields import Kind
from registry.tables import import_runs


@dataclass
class NewRun:
    company_id: str
    kind: Kind
    source: str
    source_name: str
    options: dict[str, Any] = field(default_factory=dict)
    headers: Sequence[str] | None = None
    total: int = 0
    dry_run: bool = False
    source_sha256: str | None = None
    parent_run_id: uuid.UUID | None = None
    warnings: list[str] = field(default_factory=list)
    status: str = "queued"  # or AWAITING_MAPPING: waits for a person to confirm its mapping (`confirm_mapping`)


async def create_run(engine: AsyncEngine, new: NewRun) -> uuid.UUID:
    run_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            import_runs.insert().values(
                {
                    **asdict(new),
                    "id": run_id,
                    "headers": list(new.headers) if new.headers is not None else None,
                    "created_at": now(),
                }
            )
        )
    return run_id


async def confirm_mapping(engine: AsyncEngine, run_id: uuid.UUID, new: NewRun) -> None:
    """A run that awaited its mapping, queued with what its confirmed mapping made of the file."""
    values = {
        "options": new.options,
        "headers": list(new.headers) if new.headers is not None else None,
        "total": new.total,
        "warnings": new.warnings,
        "source_sha256": new.source_sha256,
        "status": "queued",
    }
    async with engine.begin() as conn:
        c = import_runs.c
        done = await conn.execute(
            update(import_runs).where(c.id == run_id, c.status == AWAITING_MAPPING).values(values)
        )
    if done.rowcount != 1:
        raise RunError(f"run {run_id} is no longer awaiting its mapping")


async def get_run(
    conn: AsyncConnection | AsyncEngine, run_id: uuid.UUID | str, company_id: str | None = None
) -> RowMapping:
    """A run by its id or a unique prefix of it (as git takes commits); with `company_id`, only that
    company's."""
    if isinstance(conn, AsyncEngine):
        async with conn.connect() as c:
            return await get_run(c, run_id, company_id)
    query = select(import_runs).where(import_runs.c.id == await resolve_run_id(conn, run_id, company_id))
    if company_id is not None:
        query = query.where(import_runs.c.company_id == company_id)
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise NotFound(f"no run {run_id}")
    return row


MIN_PREFIX = 4
_HEX = frozenset("0123456789abcdef")


async def resolve_run_id(conn: AsyncConnection, run_id: uuid.UUID | str, company_id: str | None = None) -> uuid.UUID:
    if isinstance(run_id, uuid.UUID):
        return run_id
    try:
        return uuid.UUID(run_id)
    except ValueError:
        pass
    digits = run_id.strip().lower().replace("-", "")
    if len(digits) < MIN_PREFIX or not _HEX.issuperset(digits):
        raise NotFound(f"{run_id!r} is not a run id (give the whole id or at least {MIN_PREFIX} of its first digits)")
    # Postgres prints a uuid with hyphens, SQLite stores it as 32 hex digits: compare without them.
    query = select(import_runs.c.id).where(func.replace(cast(import_runs.c.id, String), "-", "").like(f"{digits}%"))
    if company_id is not None:
        query = query.where(import_runs.c.company_id == company_id)
    found = list((await conn.execute(query.limit(3))).scalars())
    if not found:
        raise NotFound(f"no run {run_id}")
    if len(found) > 1:
        raise RunError(f"{run_id!r} names more than one run ({', '.join(map(str, found[:2]))}, ...): give more of it")
    return uuid.UUID(str(found[0]))


async def current_run(engine: AsyncEngine, run_id: uuid.UUID | str, company_id: str | None = None) -> RunSummary:
    """A run as `status` shows it: while it is unfinished, its counts are those of its committed batches, exact
    during a run and after a crash (the heartbeat's lag, and stop when the process dies)."""
    async with engine.connect() as conn:
        return await _with_committed_counts(conn, await get_run(conn, run_id, company_id))


async def _with_committed_counts(conn: AsyncConnection, run: RowMapping) -> RunSummary:
    if run["status"] not in ("queued", "running"):
        return RunSummary.of(run)
    return RunSummary.of({**run, **(await run_rows.counts(conn, run["id"])).columns()}, stale=_stale(run))


def _stale(run: RowMapping) -> bool:
    """Running, but nobody works on it: its lease ran out, or its owner's process is gone."""
    if run["status"] != "running":
        return False
    expires = utc_or_none(run["lease_expires_at"])
    return expires is None or expires < now() or owner_is_dead(run["lease_owner"])


WORKER_TAG = ":arq"  # ends the lease owner of a queue worker: its dead runs are dispatched again


def lease_owner(worker: bool = False) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}" + (WORKER_TAG if worker else "")


def owner_is_dead(owner: str | None) -> bool:
    """A lease held by a process on this host that no longer exists can be taken at once."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    import psutil  # only when a lease is in question

    return not psutil.pid_exists(int(pid))


async def acquire(engine: AsyncEngine, run_id: uuid.UUID, owner: str, lease_s: float) -> RowMapping:
    """Take the run's lease, or explain who holds it. Moves a queued run to running."""
    async with engine.begin() as conn:
        run = await get_run(conn, run_id)
        if run["status"] in FINISHED:
            raise RunError(f"run {run_id} already finished ({run['status']})")
        expires = utc_or_none(run["lease_expires_at"])
        # The owner's own lease: a retry of a take whose answer the connection lost.
        held = run["lease_owner"] not in (None, owner)
        if held and expires and expires > now() and not owner_is_dead(run["lease_owner"]):
            raise RunError(
                f"run {run_id} is being processed by {run['lease_owner']} (lease ends {expires:%Y-%m-%d %H:%M:%S} UTC)"
            )
        taken = await conn.execute(
            update(import_runs)
            .where(
                import_runs.c.id == run_id,
                _same_lease(run["lease_owner"]),
                import_runs.c.status.in_(("queued", "running")),  # a cancel may land between the read and here
            )
            .values(
                lease_owner=owner,
                lease_expires_at=now() + timedelta(seconds=lease_s),
                status="running",
                started_at=run["started_at"] or now(),
            )
        )
        if taken.rowcount != 1:
            raise RunError(f"run {run_id} was taken by another process just now")
        return await get_run(conn, run_id)


def _same_lease(owner: str | None) -> Any:
    column = import_runs.c.lease_owner
    return column.is_(None) if owner is None else column == owner


class Cancelled(RunError):
    """The run was cancelled while this process worked on it."""


async def heartbeat(engine: AsyncEngine, run_id: uuid.UUID, owner: str, lease_s: float, counts: Counts) -> None:
    async with engine.begin() as conn:
        renewed = await conn.execute(
            update(import_runs)
            .where(import_runs.c.id == run_id, import_runs.c.lease_owner == owner, import_runs.c.status == "running")
            .values(
                lease_expires_at=now() + timedelta(seconds=lease_s),
                **counts.columns(),
            )
        )
        if renewed.rowcount != 1:
            if (await get_run(conn, run_id))["status"] == "cancelled":
                raise Cancelled(f"run {run_id} was cancelled")
            raise RunError(f"run {run_id}: lost the lease to another process")


async def cancel(engine: AsyncEngine, run_id: uuid.UUID | str, company_id: str | None = None) -> RunSummary:
    """Stop a run: a queued one never starts; a running one stops at its next heartbeat, keeping the batches
    it committed (their rows are in the registry and in its report). A finished run is left as it is."""
    async with engine.begin() as conn:
        run = await get_run(conn, run_id, company_id)
        if run["status"] in FINISHED:
            raise RunError(f"run {run['id']} already finished ({run['status']})")
        if run["source"].startswith("sync:"):
            raise RunError(f"run {run['id']} belongs to a sync; remove or pause its connection instead")
        values: dict[str, Any] = {"status": "cancelled", "error": "cancelled"}
        if run["status"] in ("queued", AWAITING_MAPPING) or _stale(run):  # no heartbeat will see it: close it now
            counts = await run_rows.counts(conn, run["id"])
            values.update(counts.columns(), lease_owner=None, lease_expires_at=None, finished_at=now())
        await conn.execute(
            update(import_runs)
            .where(import_runs.c.id == run["id"], import_runs.c.status == run["status"])
            .values(values)
        )
        return await _with_committed_counts(conn, await get_run(conn, run["id"]))


async def finish(
    engine: AsyncEngine, run_id: uuid.UUID, owner: str, *, error: str | None = None, status: str | None = None
) -> RunSummary:
    """Close the run with counts recomputed from its rows (the heartbeat's counts are only progress). A run
    cancelled after its last heartbeat stays cancelled."""
    c = import_runs.c
    async with engine.begin() as conn:
        counts = await run_rows.counts(conn, run_id)
        ended = status or ("failed" if error else counts.final_status())
        await conn.execute(
            update(import_runs)
            .where(c.id == run_id, c.lease_owner == owner)
            .values(
                # A sync learns its total by reading; a file's total was counted up front.
                total=case((c.total < counts.processed, counts.processed), else_=c.total),
                status=case((c.status == "cancelled", "cancelled"), else_=ended),
                error=case((c.status == "cancelled", c.error), else_=error),
                **counts.columns(),
                lease_owner=None,
                lease_expires_at=None,
                finished_at=now(),
            )
        )
        return RunSummary.of(await get_run(conn, run_id))


def busy(run: RowMapping) -> bool:
    """Running, or still holding a live lease (a cancelled run finishing the batch in hand)."""
    expires = utc_or_none(run["lease_expires_at"])
    return run["status"] == "running" or (run["lease_owner"] is not None and expires is not None and expires > now())


async def requeue(engine: AsyncEngine, run_id: uuid.UUID, owner: str) -> None:
    """Give a run back to the queue untouched (it could not start yet), releasing its lease."""
    async with engine.begin() as conn:
        await conn.execute(
            update(import_runs)
            .where(import_runs.c.id == run_id, import_runs.c.lease_owner == owner, import_runs.c.status == "running")
            .values(status="queued", lease_owner=None, lease_expires_at=None)
        )


async def abandon(engine: AsyncEngine, run_id: uuid.UUID, reason: str) -> None:
    """Close a queued run that will never be processed, saying why."""
    async with engine.begin() as conn:
        await conn.execute(
            update(import_runs)
            .where(import_runs.c.id == run_id, import_runs.c.status == "queued")
            .values(status="failed", error=reason, finished_at=now())
        )


async def release(engine: AsyncEngine, run_id: uuid.UUID, owner: str) -> None:
    """Give the lease back without finishing (e.g. on shutdown) so another process can resume at once."""
    async with engine.begin() as conn:
        await conn.execute(
            update(import_runs)
            .where(import_runs.c.id == run_id, import_runs.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )


async def list_runs(
    engine: AsyncEngine,
    company_id: str | None = None,
    limit: int = 50,
    after: str | None = None,
    source_name: str | None = None,
    *,
    status: str | None = None,
    kind: str | None = None,
    source: str | None = None,
) -> list[RunSummary]:
    """The newest runs first; `after`: the id of the last run of the page before. `source` "sync" means any
    connector's sync."""
    c = import_runs.c
    query = select(import_runs).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
    if company_id is not None:
        query = query.where(c.company_id == company_id)
    if source_name is not None:
        query = query.where(c.source_name == source_name)
    if status is not None:
        query = query.where(c.status == status)
    if kind is not None:
        query = query.where(c.kind == kind)
    if source is not None:
        query = query.where(c.source.startswith("sync:") if source == "sync" else c.source == source)
    async with engine.connect() as conn:
        if after is not None:
            last = await get_run(conn, after, company_id)
            newer = (c.created_at < last["created_at"]) | ((c.created_at == last["created_at"]) & (c.id < last["id"]))
            query = query.where(newer)
        # As `current_run` shows them (a query per unfinished run: there are few at a time).
        return [await _with_committed_counts(conn, run) for run in (await conn.execute(query)).mappings()]


async def family_counts(engine: AsyncEngine, run_id: uuid.UUID) -> FamilyCounts:
    """The rows of the file a run read, as its family (the first run and its reimports) left them."""
    async with engine.connect() as conn:
        members = {r["id"] for r in await family(conn, run_id)}
        order = select(import_runs.c.id).where(import_runs.c.id.in_(members), import_runs.c.dry_run.is_(False))
        latest: dict[int, str] = {}
        ids = list((await conn.execute(order.order_by(import_runs.c.created_at))).scalars())
        for member in ids:
            for outcome in await run_rows.outcomes(conn, [member]):
                if outcome.status != "skipped" or outcome.row_number not in latest:
                    latest[outcome.row_number] = outcome.status
    statuses = list(latest.values())
    return FamilyCounts(
        len(ids), len(statuses), *(statuses.count(s) for s in ("created", "updated", "skipped", "failed"))
    )


async def family(conn: AsyncConnection, run_id: uuid.UUID) -> list[RowMapping]:
    """The first run of a file and every reimport that descends from it (id, status, headers, options, lease)."""
    c = import_runs.c
    root = run_id
    while (up := await conn.scalar(select(c.parent_run_id).where(c.id == root))) is not None:
        root = up
    ids, frontier = {root}, {root}
    while frontier:
        frontier = set((await conn.execute(select(c.id).where(c.parent_run_id.in_(frontier)))).scalars()) - ids
        ids |= frontier
    query = select(c.id, c.status, c.headers, c.options, c.lease_owner, c.lease_expires_at).where(c.id.in_(ids))
    return list((await conn.execute(query)).mappings())


async def source_delimiter(engine: AsyncEngine, run: RowMapping) -> str | None:
    """The delimiter of the file a run's rows were read from: its own, or for a reimport of stored rows that of
    the run it read them from; None for rows from an API."""
    async with engine.connect() as conn:
        while "delimiter" not in run["options"] and run["parent_run_id"] is not None:
            run = await get_run(conn, run["parent_run_id"])
    delimiter: str | None = run["options"].get("delimiter")
    return delimiter


async def close_orphans(engine: AsyncEngine, source_name: str, reason: str) -> None:
    """Runs of this source left queued or running by a process that died: close them, saying why."""
    async with engine.begin() as conn:
        await conn.execute(
            update(import_runs)
            .where(import_runs.c.source_name == source_name, import_runs.c.status.in_(("queued", "running")))
            .values(status="failed", error=reason, lease_owner=None, lease_expires_at=None, finished_at=now())
        )


async def orphaned_by_workers(engine: AsyncEngine) -> list[tuple[uuid.UUID, datetime]]:
    """Runs a queue worker was processing whose lease ran out (the worker died or hangs), with the moment it
    ran out. A run an operator's own process left behind waits for their `resume`."""
    c = import_runs.c
    query = select(c.id, c.lease_expires_at).where(
        c.status == "running", c.lease_owner.like(f"%{WORKER_TAG}"), c.lease_expires_at < now()
    )
    async with engine.connect() as conn:
        return [(run_id, utc(expired)) for run_id, expired in await conn.execute(query)]


async def purge(engine: AsyncEngine, older_than: timedelta, company_id: str | None = None) -> tuple[int, int]:
    """Drop the stored source values of runs that finished more than `older_than` ago; returns (runs, rows)."""
    c = import_runs.c
    query = select(c.id, c.headers, c.options).where(
        c.status.in_(FINISHED), c.finished_at < now() - older_than, c.purged_at.is_(None)
    )
    if company_id is not None:
        query = query.where(c.company_id == company_id)
    purged_runs = purged_rows = 0
    async with engine.connect() as conn:
        found = (await conn.execute(query)).all()
    for run_id, headers, options in found:
        async with engine.begin() as conn:  # a run at a time: a long purge never holds one big transaction
            purged_rows += await run_rows.drop_raw(conn, run_id, records=headers is None)
            if (options or {}).get("upload"):  # the uploaded file holds the same values
                await uploads.drop(conn, options["upload"])
            await conn.execute(update(import_runs).where(c.id == run_id).values(purged_at=now()))
        purged_runs += 1
    return purged_runs, purged_rows


def parse_age(text: str) -> timedelta:
    """'90d' or '12h' (a retention period: at least an hour)."""
    number, unit = text.strip()[:-1], text.strip()[-1:].lower()
    if not number.isdigit() or unit not in ("d", "h"):
        raise ValueError(f"invalid age {text!r}: use days or hours, e.g. 90d or 12h")
    age = timedelta(days=int(number)) if unit == "d" else timedelta(hours=int(number))
    if age < timedelta(hours=1):
        raise ValueError("the age must be at least 1h")
    return age
