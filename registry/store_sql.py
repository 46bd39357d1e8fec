"""Bulk-create's statements in portable SQLAlchemy Core (the embedded SQLite default uses these)."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Uuid, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from registry.tables import idempotency_keys

KEY = idempotency_keys.c


def _insert_new(table: Table, returning: str) -> Any:
    # SQLite's INSERT … ON CONFLICT DO NOTHING RETURNING returns only the rows it inserted.
    return sqlite.insert(table).on_conflict_do_nothing().returning(table.c[returning])


async def claim_and_insert(
    conn: AsyncConnection,
    company_id: str,
    claims: Sequence[tuple[str, str]],
    now: datetime,
    table: Table,
    rows: Sequence[tuple[str, dict[str, Any]]],
) -> tuple[set[str], set[str]]:
    """Claim idempotency keys, then insert the rows of the keys claimed now, skipping those that hit a unique
    constraint; returns the keys claimed now and the ids inserted, as text."""
    claimed = set()
    for key, digest in claims:
        values = {"company_id": company_id, "key": key, "request_hash": digest, "created_at": now}
        if (await conn.execute(_insert_new(idempotency_keys, "key").values(**values))).first() is not None:
            claimed.add(key)
    new = [row for key, row in rows if key in claimed]
    if not new:
        return claimed, set()
    return claimed, {str(r.id) for r in await conn.execute(_insert_new(table, "id"), _typed(table, new))}


async def stored(conn: AsyncConnection, company_id: str, key: str) -> tuple[str, dict[str, Any]]:
    query = select(KEY.request_hash, KEY.response).where(KEY.company_id == company_id, KEY.key == key)
    row = (await conn.execute(query)).one()
    return row.request_hash, row.response


async def save_responses(conn: AsyncConnection, company_id: str, responses: Mapping[str, dict[str, Any]]) -> None:
    for key, response in responses.items():
        query = update(idempotency_keys).where(KEY.company_id == company_id, KEY.key == key)
        await conn.execute(query.values(response=response))


async def append(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    await conn.execute(table.insert(), _typed(table, rows))


def _typed(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the rows with ids as UUID objects: callers pass them as text (as the Postgres path takes them)
    and compare them as text afterwards; SQLAlchemy's Uuid wants UUID objects."""
    uuids = [c.name for c in table.columns if isinstance(c.type, Uuid) and c.name in rows[0]]
    return [{**row, **{key: _uuid(row[key]) for key in uuids}} for row in rows]


def _uuid(value: Any) -> Any:
    return uuid.UUID(value) if isinstance(value, str) else value


async def existing_org_numbers(
    conn: AsyncConnection, table: Table, company_id: str, org_numbers: Sequence[str]
) -> set[str]:
    query = select(table.c.org_number).where(table.c.company_id == company_id, table.c.org_number.in_(org_numbers))
    return {r.org_number for r in await conn.execute(query)}
