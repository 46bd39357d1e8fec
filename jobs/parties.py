"""Customers and suppliers as a person may see them in a listing: one company's, newest last, personnummer
masked."""

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.records import PartyPage
from registry.fields import Kind
from registry.normalize import mask_personnummer
from registry.tables import PARTY_TABLES


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    # A sole trader's org number is their personnummer: never shown in full.
    if row.get("customer_type") == "individual" and row["org_number"]:
        row["org_number"] = mask_personnummer(row["org_number"])
    return row


async def list_parties(
    engine: AsyncEngine,
    kind: Kind,
    company_id: str,
    *,
    search: str | None = None,
    include_archived: bool = False,
    limit: int = 50,
) -> PartyPage:
    """The first `limit` records that match (`search`: in the name or the org number, ignoring case)."""
    table = PARTY_TABLES[kind]
    where = [table.c.company_id == company_id]
    if not include_archived:
        where.append(table.c.archived_at.is_(None))
    if search:
        pattern = f"%{search.strip().lower()}%"
        where.append(or_(func.lower(table.c.name).like(pattern), func.lower(table.c.org_number).like(pattern)))
    query = select(table).where(*where).order_by(table.c.created_at, table.c.id).limit(limit)
    async with engine.connect() as conn:
        total = int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())
        rows = [_masked(dict(r)) for r in (await conn.execute(query)).mappings()]
    return PartyPage(rows, total)
