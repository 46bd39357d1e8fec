"""Customers and suppliers as a person may see them in a listing: one company's, newest last, personnummer
masked."""

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.records import PartyPage, PartyQuery
from registry.normalize import has_personnummer_shape, looks_like_personnummer, mask_personnummer
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
    page = select(table).where(*where).order_by(table.c.created_at, table.c.id).limit(query.limit)  # None: all
    async with engine.connect() as conn:
        total = int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())
        rows = [_masked(dict(r)) for r in (await conn.execute(page)).mappings()]
    return PartyPage(rows, total)
