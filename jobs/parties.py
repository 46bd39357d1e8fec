"""Customers and suppliers as the faces show them: one company's, in the order they were created, personnummer
masked in listings; and their creation through the registry's bulk-create (the one the imports use)."""

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobs.errors import IdempotencyKeyInFlight, NotFound, Refused, RunError
from jobs.records import PartyPage, PartyQuery
from registry.bulk import IdempotencyKeyReused, bulk_create, store
from registry.clock import now, utc_or_none
from registry.fields import Kind, payload_fields
from registry.items import Rejected, duplicate_error, validate, validation_error
from registry.normalize import has_personnummer_shape, looks_like_personnummer, mask_personnummer
from registry.patch import recheck_vat, set_archived, set_fields, with_vat_state
from registry.plan import Result
from registry.tables import PARTY_TABLES


def _is_a_persons(number: str, country: str | None) -> bool:
    """A personnummer (with or without the century), or a Swedish number shaped like one: a valid Swedish
    organisation number with a month (0-1) where a legal entity's has 20-99 is a person's, a sole trader's
    samordningsnummer (the day plus 60) among them."""
    return looks_like_personnummer(number) or (country in (None, "SE") and has_personnummer_shape(number))


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    """A person's number is never shown in full. An individual customer's org number is their personnummer;
    so is a Swedish sole trader's, customer or supplier (a supplier has no individual type): the 10-digit
    organisation number of a sole trader is the personnummer without the century. A Swedish VAT number is
    SE + the organisation number + 01, so a sole trader's holds it too."""
    org = row.get("org_number")
    if org and (row.get("customer_type") == "individual" or _is_a_persons(org, row.get("country"))):
        row["org_number"] = mask_personnummer(org)
    vat = row.get("vat_number")
    if vat and vat[:2] == "SE" and _is_a_persons(vat[2:12], "SE"):
        row["vat_number"] = f"{vat[:8]}****{vat[12:]}"
    return row


async def list_parties(engine: AsyncEngine, query: PartyQuery) -> PartyPage:
    """The first `query.limit` records that match (all, without a limit), oldest first; `total` says how many
    match in all."""
    table = PARTY_TABLES[query.kind]
    where = [table.c.company_id == query.company_id]
    if not query.include_archived:
        where.append(table.c.archived_at.is_(None))
    if query.search:
        fold = func.unicode_lower if engine.dialect.name == "sqlite" else func.lower  # (registry.db adds it)
        text = query.search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{text}%"
        where.append(
            or_(
                fold(table.c.name).like(pattern, escape="\\"),
                fold(table.c.org_number).like(pattern, escape="\\"),
            )
        )
    total_query = select(func.count()).select_from(table).where(*where)
    if query.after is not None:
        created, last = _position(query.after)
        where.append(or_(table.c.created_at > created, and_(table.c.created_at == created, table.c.id > last)))
    limit = None if query.limit is None else query.limit + 1  # one more: is there a next page?
    page = select(table).where(*where).order_by(table.c.created_at, table.c.id).limit(limit)  # None: all
    async with engine.connect() as conn:
        total = int((await conn.execute(total_query)).scalar_one())
        rows = [_masked(_shown(r)) for r in (await conn.execute(page)).mappings()]
    more = query.limit is not None and len(rows) > query.limit
    rows = rows[: query.limit]
    return PartyPage(rows, total, _cursor(rows[-1]) if more else None)


def _cursor(row: Mapping[str, Any]) -> str:
    created = utc_or_none(row["created_at"])
    assert created is not None
    return base64.urlsafe_b64encode(json.dumps([created.isoformat(), str(row["id"])]).encode()).decode()


def _position(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, last = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created), uuid.UUID(last)
    except (ValueError, TypeError, binascii.Error):
        raise RunError(f"not a cursor this listing gave: {cursor!r}") from None


async def get_party(engine: AsyncEngine, kind: Kind, company_id: str, entity_id: str) -> dict[str, Any]:
    """One record in full (archived ones too); another company's is not found."""
    table = PARTY_TABLES[kind]
    try:
        wanted = uuid.UUID(entity_id)
    except ValueError:
        raise NotFound(f"no {kind[:-1]} {entity_id}") from None
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(table).where(table.c.company_id == company_id, table.c.id == wanted)))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"no {kind[:-1]} {entity_id}")
    return _shown(row)


def _shown(row: RowMapping) -> dict[str, Any]:
    """A record with its times in UTC, as every database gives them back (SQLite's come without a zone)."""
    return {k: utc_or_none(v) if isinstance(v, datetime) else v for k, v in row.items()}


async def create_parties(
    engine: AsyncEngine,
    kind: Kind,
    company_id: str,
    items: Sequence[Mapping[str, Any]],
    *,
    idempotency_key: str,
    dry_run: bool = False,
    all_or_nothing: bool = False,
) -> Result:
    """One bulk-create request (≤ 50 items, partial success), committed with its idempotency key."""
    async with engine.begin() as conn:
        return await bulk_create(
            conn, company_id, kind, items, idempotency_key=idempotency_key, dry_run=dry_run,
            all_or_nothing=all_or_nothing,
        )  # fmt: skip


async def patch_party(
    engine: AsyncEngine,
    kind: Kind,
    company_id: str,
    entity_id: str,
    given: Mapping[str, Any],
    *,
    idempotency_key: str,
    dry_run: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Change the fields `given` names (null clears one; `archived_at: null` un-archives), PATCH style: the
    merged record is validated as a create would be, only what changes is written, with `updated_at`; a
    changed VAT number is unvalidated and checked again. Returns the record and the customers VIES is to
    check. A retried key returns what it returned the first time; the same key with other changes is refused."""
    _refuse_unchangeable(kind, given)
    current = await get_party(engine, kind, company_id, entity_id)
    digest = hashlib.sha256(json.dumps([entity_id, dict(given)], sort_keys=True, default=str).encode()).hexdigest()
    stamp = now()
    async with engine.begin() as conn:
        db = store(conn)
        if not dry_run and (replayed := await _claimed_before(conn, company_id, idempotency_key, digest, stamp)):
            return replayed, []
        changed = _changes(kind, current, given)
        record = {**current, **changed, **({"updated_at": stamp} if changed else {})}
        if dry_run:
            return record, []
        rechecks: list[dict[str, Any]] = []
        if changed:
            try:
                await set_fields(conn, PARTY_TABLES[kind], company_id, entity_id, changed, stamp)
            except IntegrityError:
                raise Refused(duplicate_error(kind, changed.get("org_number") or "")) from None
            if "vat_check_status" in changed:
                checks = [(entity_id, record.get("vat_number"), str(changed["vat_check_status"]))]
                rechecks = await recheck_vat(conn, company_id, checks, stamp)
        shown = json.loads(json.dumps(record, default=_json_default))
        await db.save_responses(conn, company_id, {idempotency_key: json.dumps(shown)})
    return shown, rechecks


def _refuse_unchangeable(kind: Kind, given: Mapping[str, Any]) -> None:
    unknown = sorted(set(given) - {*payload_fields(kind), "archived_at"})
    if unknown:
        raise Refused(validation_error({name: "not a field that can be changed" for name in unknown}))
    if given.get("archived_at") is not None:
        raise Refused(validation_error({"archived_at": "only null (un-archive): archive with DELETE"}))


async def _claimed_before(
    conn: AsyncConnection, company_id: str, key: str, digest: str, stamp: datetime
) -> dict[str, Any] | None:
    """Claim the key for this request; the response it stored when it was claimed before (the same request
    again). Another request with it, or still in flight, is refused."""
    db = store(conn)
    if not await db.hold(conn, company_id, key):
        raise IdempotencyKeyInFlight(f"a request with idempotency key {key!r} is still in flight")
    if await db.claim(conn, company_id, key, digest, stamp):
        return None
    stored_digest, response = await db.stored(conn, company_id, key)
    if stored_digest != digest:
        raise IdempotencyKeyReused(f"idempotency key {key!r} was used before with other changes")
    return response


def _changes(kind: Kind, current: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """What `given` changes of `current`, validated as the whole merged record; the VIES state it resets."""
    merged = {f: current.get(f) for f in payload_fields(kind)}
    merged.update((k, v) for k, v in given.items() if k != "archived_at")
    model = validate(kind, {k: v for k, v in merged.items() if v is not None})
    if isinstance(model, Rejected):
        raise Refused(model.error)
    changed = {f: model.values.get(f) for f in payload_fields(kind) if model.values.get(f) != current.get(f)}
    with_vat_state(kind, current, changed)
    if "archived_at" in given and current["archived_at"] is not None:
        changed["archived_at"] = None
    return changed


def _json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


async def archive_party(engine: AsyncEngine, kind: Kind, company_id: str, entity_id: str, *, dry_run: bool) -> None:
    """Archive a record (soft delete); archiving an archived one changes nothing."""
    await get_party(engine, kind, company_id, entity_id)  # NotFound, for another company's too
    if dry_run:
        return
    async with engine.begin() as conn:
        await set_archived(conn, PARTY_TABLES[kind], company_id, entity_id, now())
