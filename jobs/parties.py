"""Customers and suppliers as the faces show them: one company's, in the order they were created, personnummer
masked in listings; and their creation through the registry's bulk-create (the one the imports use)."""

import base64
import binascii
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.errors import NotFound, RunError
from jobs.records import PartyPage, PartyQuery
from registry.bulk import bulk_create_result
from registry.clock import utc_or_none
from registry.fields import Kind
from registry.normalize import has_personnummer_shape, looks_like_personnummer, mask_personnummer
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
) -> Result:
    """One bulk-create request (≤ 50 items, partial success), committed with its idempotency key."""
    async with engine.begin() as conn:
        return await bulk_create_result(conn, company_id, kind, items, idempotency_key=idempotency_key, dry_run=dry_run)
