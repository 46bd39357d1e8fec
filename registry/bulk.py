"""Bulk-create with the semantics of seeds 000/002: ≤50 items, partial success, idempotent per batch.

One batch is three statements whatever its size: claim the idempotency key, insert the valid items with
`ON CONFLICT DO NOTHING RETURNING id`, store the response beside the key (on Postgres the claim and the
insert are one statement). `bulk_create_many` does the same for several batches in the same statements.
The caller owns the transaction, so a job can commit its own bookkeeping (and several batches) atomically
with the rows and the keys."""

import hashlib
import marshal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from registry import store_pg, store_sql
from registry.countries import EU_MEMBER_STATES, vat_prefix
from registry.errors import FieldWarning
from registry.fields import Kind
from registry.ids import new_ids
from registry.models import CustomerCreate, SupplierCreate, field_errors
from registry.tables import PARTY_TABLES, vat_checks

MAX_ITEMS = 50
# What VIES answers for: the member states under their VAT prefix (Greece is EL) and Northern Ireland (XI).
VIES_PREFIXES = frozenset({vat_prefix(c) for c in EU_MEMBER_STATES} | {"XI"})
FIRST_RECHECK = timedelta(minutes=1)

MODELS: dict[Kind, type[CustomerCreate] | type[SupplierCreate]] = {
    "customers": CustomerCreate,
    "suppliers": SupplierCreate,
}
DUPLICATE_CODES: dict[Kind, str] = {
    "customers": "CUSTOMER_DUPLICATE_ORG_NUMBER",
    "suppliers": "SUPPLIER_DUPLICATE_ORG_NUMBER",
}


class BulkCreateError(Exception):
    """The request as a whole is refused; `code` is the API error code."""

    code = "VALIDATION_ERROR"


class TooManyItems(BulkCreateError):
    pass


class AllOrNothingNotImplemented(BulkCreateError):
    code = "NOT_IMPLEMENTED"


class IdempotencyKeyReused(BulkCreateError):
    code = "IDEMPOTENCY_KEY_REUSED"


@dataclass(frozen=True, slots=True)
class Rejected:
    """An item already known to fail, with its API error (a streaming importer validates while it reads)."""

    error: dict[str, Any]


class Valid(NamedTuple):
    """An item that passed validation: its storable columns (`db_values()`) and its warnings. Plain data, so a
    reader process can validate and hand it over cheaply."""

    values: dict[str, Any]
    warnings: list[FieldWarning]


def validate(kind: Kind, item: Mapping[str, Any]) -> Valid | Rejected:
    try:
        model = MODELS[kind].model_validate(item)
    except ValidationError as exc:
        return Rejected(validation_error(field_errors(exc)))
    return Valid(model.db_values(), model.warnings)


def validation_error(fields: Mapping[str, str]) -> dict[str, Any]:
    message = "; ".join(f"{field}: {reason}" for field, reason in fields.items())
    return {"code": "VALIDATION_ERROR", "message": message, "fields": dict(fields)}


def duplicate_error(kind: Kind, org_number: str, where: str = "for this company") -> dict[str, Any]:
    return {
        "code": DUPLICATE_CODES[kind],
        "message": f"org number {org_number} already exists {where}",
        "fields": {"org_number": f"{org_number} already exists {where}"},
    }


def request_hash(checked: Sequence[dict[str, Any] | Rejected]) -> str:
    """Fingerprint of a batch after validation: payloads that normalise alike are the same request."""
    # Plain dicts of str/int/bool/None in a fixed key order. marshal's version 2 writes values only (no
    # references, no interning), so equal values give equal bytes in any process; it is frozen, and faster
    # than repr or json on the import's hot path.
    plain = [{"rejected": c.error} if isinstance(c, Rejected) else c for c in checked]
    return hashlib.sha256(marshal.dumps(plain, 2)).hexdigest()


def needs_vies(row: Mapping[str, Any]) -> bool:
    """EU-business customers with a VAT number VIES knows (seed 000); GB numbers are not in VIES."""
    vat = row.get("vat_number")
    return row.get("customer_type") == "eu_business" and vat is not None and vat[:2] in VIES_PREFIXES


def _pending_check(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    # The check right after commit is attempt zero; if its process dies first, rechecks find this a minute on.
    return {
        "customer_id": row["id"],
        "company_id": row["company_id"],
        "vat_number": row["vat_number"],
        "attempts": 0,
        "first_attempt_at": now,
        "next_attempt_at": now + FIRST_RECHECK,
        "last_error": None,
    }


def _ok(index: int, row: Mapping[str, Any], warnings: Sequence[Any], *, full: bool) -> dict[str, Any]:
    """A created item is reported by id and name (as in the seeds); a dry run shows the would-be record."""
    if full:
        data = {k: v for k, v in row.items() if k not in ("company_id", "created_at", "updated_at")}
        data["vat_number_validated"] = False  # dry runs never ask VIES
    else:
        data = {"id": row["id"], "name": row["name"]}
        if row.get("vat_check_status") == "pending":
            data.update(vat_number=row["vat_number"], vat_check_status="pending")
    if warnings:
        data["warnings"] = [{"field": w.field, "code": w.code, "message": w.message} for w in warnings]
    return {"ok": True, "request_index": index, "data": data}


def _failed(index: int, error: Mapping[str, Any]) -> dict[str, Any]:
    return {"ok": False, "request_index": index, "error": dict(error)}


Payload = Mapping[str, Any] | Valid | Rejected  # a raw payload, or one validated already


@dataclass
class _Request:
    """One bulk-create request after validation: what is known before the database is asked."""

    key: str
    digest: str
    results: list[dict[str, Any] | None]
    to_insert: list[tuple[int, Valid, dict[str, Any]]]
    orgs: list[str]


def _plan(kind: Kind, company_id: str, key: str, items: Sequence[Payload], stamp: datetime) -> _Request:
    checked = [i if isinstance(i, Valid | Rejected) else validate(kind, i) for i in items]
    # Copies: the rows get ids and timestamps here, and the caller's values must stay as validated.
    rows = [c if isinstance(c, Rejected) else dict(c.values) for c in checked]
    request = _Request(key, request_hash(rows), [None] * len(items), [], [])
    first_index_of_org: dict[str, int] = {}
    for index, (model, row) in enumerate(zip(checked, rows, strict=True)):
        if isinstance(row, Rejected):
            request.results[index] = _failed(index, row.error)
            continue
        assert not isinstance(model, Rejected)
        org = row.get("org_number")
        if org is not None:
            if org in first_index_of_org:
                error = duplicate_error(kind, org, f"in this batch (item {first_index_of_org[org]})")
                request.results[index] = _failed(index, error)
                continue
            first_index_of_org[org] = index
        # One microsecond apart: the registry lists "created-first", and a batch is created in request order.
        created = stamp + timedelta(microseconds=index)
        row.update(company_id=company_id, created_at=created, updated_at=created)
        if kind == "customers":
            row["vat_check_status"] = "pending" if needs_vies(row) else "not_applicable"
        request.to_insert.append((index, model, row))
    request.orgs = list(first_index_of_org)
    return request


def _response(results: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    final = [r for r in results if r is not None]
    succeeded = sum(1 for r in final if r["ok"])
    return {
        "results": final,
        "summary": {"total": len(final), "succeeded": succeeded, "failed": len(final) - succeeded},
    }


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
) -> dict[str, Any]:
    """Create up to 50 customers or suppliers; returns `{results: [...], summary: {...}}` as in the seeds.

    Items are payload mappings or already validated (a streaming importer validates while it reads, and
    passes rows that failed there as `Rejected`).
    """
    if all_or_nothing:
        raise AllOrNothingNotImplemented("all_or_nothing batches are not implemented; omit the flag")
    responses = await bulk_create_many(conn, company_id, kind, [(idempotency_key, items)], dry_run=dry_run, now=now)
    return responses[0]


async def bulk_create_many(
    conn: AsyncConnection,
    company_id: str,
    kind: Kind,
    requests: Sequence[tuple[str, Sequence[Payload]]],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Several bulk-create requests, each (idempotency key, ≤50 items), with exactly the result of calling
    `bulk_create` for each in turn, in a fixed number of statements however many there are.
    """
    keys = [key for key, _ in requests]
    if not all(keys):
        raise BulkCreateError("an idempotency key is required")
    if len(set(keys)) != len(keys):
        raise BulkCreateError("each request needs its own idempotency key")
    for _, items in requests:
        if len(items) > MAX_ITEMS:
            raise TooManyItems(f"at most {MAX_ITEMS} items per batch, got {len(items)}")
    table = PARTY_TABLES[kind]
    db = store(conn)
    stamp = now or _now()
    planned = [_plan(kind, company_id, key, items, stamp) for key, items in requests]

    if dry_run:
        existing = await db.existing_org_numbers(conn, table, company_id, [o for r in planned for o in r.orgs])
        for request in planned:
            for index, model, row in request.to_insert:
                org = row.get("org_number")
                if org is not None and org in existing:
                    request.results[index] = _failed(index, duplicate_error(kind, org))
                else:
                    request.results[index] = _ok(index, row, model.warnings, full=True)
        return [_response(r.results) for r in planned]

    new_rows = [(r.key, row) for r in planned for _, _, row in r.to_insert]
    for (_, row), new_id in zip(new_rows, new_ids(len(new_rows)), strict=True):
        row["id"] = new_id
    claims = [(r.key, r.digest) for r in planned]
    claimed, inserted = await db.claim_and_insert(conn, company_id, claims, stamp, table, new_rows)
    out: list[dict[str, Any]] = []
    new: dict[str, dict[str, Any]] = {}
    pending = []
    for request in planned:
        if request.key not in claimed:
            stored_digest, stored_response = await db.stored(conn, company_id, request.key)
            if stored_digest != request.digest:
                raise IdempotencyKeyReused(f"idempotency key {request.key!r} was used before with a different payload")
            out.append(stored_response)
            continue
        for index, model, row in request.to_insert:
            if row["id"] in inserted:
                request.results[index] = _ok(index, row, model.warnings, full=False)
                if row.get("vat_check_status") == "pending":
                    pending.append(_pending_check(row, stamp))
            else:
                # The only other unique constraint is (company_id, org_number).
                request.results[index] = _failed(index, duplicate_error(kind, row["org_number"]))
        new[request.key] = _response(request.results)
        out.append(new[request.key])
    if pending:
        # "Validated against VIES on commit": the check itself runs after the commit (jobs.vat), but its
        # record commits with the customer, so a crash in between cannot lose it.
        await db.append(conn, vat_checks, pending)
    if new:
        await db.save_responses(conn, company_id, new)
    return out


def store(conn: AsyncConnection) -> Any:
    """The statements for this connection's database: asyncpg for Postgres, SQLAlchemy Core otherwise."""
    return store_pg if conn.dialect.name == "postgresql" else store_sql


def _now() -> datetime:
    return datetime.now(UTC)
