"""Customers and suppliers as a person may see them in a listing: one company's, newest last, personnummer
masked."""

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.records import PartyPage, PartyQuery
from registry.normalize import mask_personnummer
from registry.tables import PARTY_TABLES


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    # A sole trader's org number is their personnummer: never shown in full.
    if row.get("customer_type") == "individual" and row["org_number"]:
        row["org_number"] = mask_personnummer(row["org_number"])
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
    page = select(table).where(*where).order_by(table.c.created_at, table.c.id).limit(query.limit)  # None: all
    async with engine.connect() as conn:
        total = int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())
        rows = [_masked(dict(r)) for r in (await conn.execute(page)).mappings()]
    return PartyPage(rows, total)
