"""The registry API's bulk-create of customers and suppliers: ≤50 items, partial success, idempotent per batch.

A request is planned first (`registry.plan`: validation, fingerprint, rows), then written: on Postgres one
statement claims the idempotency key, stores the response the request gets if every row goes in, and inserts
the rows with `ON CONFLICT DO NOTHING RETURNING id`; only a request that lost rows to existing org numbers
stores its actual response with a second statement. `bulk_create_many` does the same for several requests in
the same statements. The caller owns the transaction, so a job can commit its own bookkeeping (and several
batches) atomically with the rows and the keys.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from registry import clock
from registry.fields import Kind
from registry.plan import Payload, Prepared, Result, prepare
from registry.store import Insertion, Store
from registry.store_pg import PostgresStore
from registry.store_sql import SqlStore
from registry.tables import PARTY_TABLES, vat_checks

MAX_ITEMS = 50
FIRST_RECHECK = timedelta(minutes=1)


class BulkCreateError(Exception):
    """The request as a whole is refused; `code` is the API error code."""

    code = "VALIDATION_ERROR"


class TooManyItems(BulkCreateError):
    pass


class AllOrNothingNotImplemented(BulkCreateError):
    code = "NOT_IMPLEMENTED"


class IdempotencyKeyReused(BulkCreateError):
    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyKeyInFlight(BulkCreateError):
    """A request with this key is being written by another transaction right now."""

    code = "IDEMPOTENCY_KEY_IN_FLIGHT"


async def bulk_create(
    conn: AsyncConnection,
    company_id: str,
    kind: Kind,
    items: Sequence[Payload],
    *,
    idempotency_key: str,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    now: datetime | None = None,
) -> Result:
    """Create up to 50 customers or suppliers; the result's `response()` is the API's `{results, summary}`.

    Items are payload mappings or already validated (a streaming importer validates while it reads, and
    passes rows that failed there as `Rejected`). A key another transaction is writing is refused at once
    (IdempotencyKeyInFlight) rather than waited for.
    """
    if all_or_nothing:
        raise AllOrNothingNotImplemented("all_or_nothing batches are not implemented; omit the flag or pass false")
    if not dry_run and not await store(conn).hold(conn, company_id, idempotency_key):
        raise IdempotencyKeyInFlight(f"a request with idempotency key {idempotency_key!r} is still in flight")
    results = await bulk_create_many(conn, company_id, kind, [(idempotency_key, items)], dry_run=dry_run, now=now)
    return results[0]


async def bulk_create_many(
    conn: AsyncConnection,
    company_id: str,
    kind: Kind,
    requests: Sequence[tuple[str, Sequence[Payload]]],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> list[Result]:
    """Several bulk-create requests, each (idempotency key, ≤50 items), with exactly the result of calling
    `bulk_create` for each in turn, in a fixed number of statements however many there are.
    """
    _refuse_over_max(len(items) for _, items in requests)  # before their items are validated
    stamp = now or clock.now()
    planned = [(key, prepare(kind, company_id, items, stamp)) for key, items in requests]
    return await write(conn, company_id, kind, planned, dry_run=dry_run, now=stamp)


async def write(
    conn: AsyncConnection,
    company_id: str,
    kind: Kind,
    requests: Sequence[tuple[str, Prepared]],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    optimistic: bool = False,
) -> list[Result]:
    """Requests planned already (`registry.plan.prepare`, e.g. by a reading process), each with its
    idempotency key: as `bulk_create_many` from there on. `optimistic`: the caller expects the rows' org
    numbers to be new (an import that has met none in the registry yet); the outcome is the same either way,
    only its cost differs."""
    keys = [key for key, _ in requests]
    if not all(keys):
        raise BulkCreateError("an idempotency key is required")
    if len(set(keys)) != len(keys):
        raise BulkCreateError("each request needs its own idempotency key")
    _refuse_over_max(prepared.size for _, prepared in requests)
    if dry_run:
        return await _dry_run(conn, company_id, kind, [p for _, p in requests])
    return await _write(conn, company_id, kind, requests, now or clock.now(), optimistic)


def _refuse_over_max(sizes: Iterable[int]) -> None:
    for size in sizes:
        if size > MAX_ITEMS:
            raise TooManyItems(f"at most {MAX_ITEMS} items per batch, got {size}")


async def _dry_run(conn: AsyncConnection, company_id: str, kind: Kind, planned: list[Prepared]) -> list[Result]:
    org = PARTY_TABLES[kind].c.keys().index("org_number")
    orgs = [r[org] for p in planned for r in p.records if r[org] is not None]
    existing = await store(conn).existing_org_numbers(conn, PARTY_TABLES[kind], company_id, orgs)
    return [
        Result(p, [r[0] for r in p.records], frozenset(k for k, r in enumerate(p.records) if r[org] in existing),
               dry_run=True)
        for p in planned
    ]  # fmt: skip


async def _write(
    conn: AsyncConnection,
    company_id: str,
    kind: Kind,
    requests: Sequence[tuple[str, Prepared]],
    stamp: datetime,
    optimistic: bool,
) -> list[Result]:
    db = store(conn)
    claims = [(key, p.digest, p.expected()) for key, p in requests]
    records = [r for _, p in requests for r in p.records]
    owners = [n for n, (_, p) in enumerate(requests, 1) for _ in p.records]
    table = PARTY_TABLES[kind]
    claimed, inserted = await db.claim_and_insert(
        conn, company_id, Insertion(claims, stamp, table, records, owners, optimistic)
    )
    results: list[Result] = []
    new: list[Result] = []
    corrected: dict[str, str] = {}
    for key, prepared in requests:
        if key not in claimed:
            stored_digest, stored = await db.stored(conn, company_id, key)
            if not prepared.matches(stored_digest, stored):
                raise IdempotencyKeyReused(f"idempotency key {key!r} was used before with a different payload")
            results.append(Result.from_stored(prepared, stored))
            continue
        result = Result.inserted(prepared, inserted)
        if result.duplicates:
            corrected[key] = result.stored()
        results.append(result)
        new.append(result)
    if corrected:
        await db.save_responses(conn, company_id, corrected)
    if kind == "customers" and (pending := _pending_checks(new, company_id, stamp)):
        # "Validated against VIES on commit": the check itself runs after the commit (jobs.vat), but its
        # record commits with the customer, so a crash in between cannot lose it.
        await db.append(conn, vat_checks, pending)
    return results


_ID, _VAT, _VAT_STATUS = (PARTY_TABLES["customers"].c.keys().index(c) for c in ("id", "vat_number", "vat_check_status"))


def _pending_checks(results: Sequence[Result], company_id: str, now: datetime) -> list[dict[str, Any]]:
    # The check right after commit is attempt zero; if its process dies first, rechecks find this a minute on.
    return [
        {"customer_id": record[_ID], "company_id": company_id, "vat_number": record[_VAT], "attempts": 0,
         "first_attempt_at": now, "next_attempt_at": now + FIRST_RECHECK, "last_error": None}
        for result in results
        if result.prepared.pending
        for _, record in result.created()
        if record[_VAT_STATUS] == "pending"
    ]  # fmt: skip


_POSTGRES: Store = PostgresStore()
_SQL: Store = SqlStore()


def store(conn: AsyncConnection) -> Store:
    """The statements for this connection's database: asyncpg for Postgres, SQLAlchemy Core otherwise."""
    return _POSTGRES if conn.dialect.name == "postgresql" else _SQL
