"""Mappings remembered per company and layout of headers (the `learned_mappings` table's one writer)."""

import hashlib
from collections.abc import Mapping, Sequence

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.headers import normalize_header
from registry.clock import now
from registry.fields import Kind
from registry.tables import learned_mappings


def layout(headers: Sequence[str]) -> str:
    """A layout of headers: their keys in order, as matching sees them ("Org.nr" and "ORG-NR" are one)."""
    return hashlib.sha256("\x1f".join(map(normalize_header, headers)).encode()).hexdigest()


def _where(company_id: str, kind: Kind, headers: Sequence[str]) -> ColumnElement[bool]:
    c = learned_mappings.c
    return and_(c.company_id == company_id, c.kind == kind, c.layout == layout(headers))


async def recall(engine: AsyncEngine, company_id: str, kind: Kind, headers: Sequence[str]) -> dict[str, str | None]:
    """The mapping last used for these headers ({} when none was)."""
    async with engine.connect() as conn:
        found = await conn.scalar(select(learned_mappings.c.mapping).where(_where(company_id, kind, headers)))
    return dict(found or {})


async def remember(
    engine: AsyncEngine, company_id: str, kind: Kind, headers: Sequence[str], mapping: Mapping[str, str | None]
) -> None:
    async with engine.begin() as conn:
        changed = await conn.execute(
            learned_mappings.update()
            .where(_where(company_id, kind, headers))
            .values(mapping=dict(mapping), updated_at=now())
        )
        if changed.rowcount == 0:
            await conn.execute(
                learned_mappings.insert().values(
                    company_id=company_id, kind=kind, layout=layout(headers), mapping=dict(mapping), updated_at=now()
                )
            )
