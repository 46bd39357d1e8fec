"""Bulk-create's statements in portable SQLAlchemy Core (the embedded SQLite default uses these)."""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Uuid, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from registry.ids import as_uuid
from registry.store import Claimed, Insertion, Keys
from registry.tables import idempotency_keys

KEY = idempotency_keys.c


def _insert_new(table: Table, returning: str) -> Any:
    # SQLite's INSERT … ON CONFLICT DO NOTHING RETURNING returns only the rows it inserted.
    return sqlite.insert(table).on_conflict_do_nothing().returning(table.c[returning])


def _typed(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the rows with ids as UUID objects: callers pass them as text (as the Postgres path takes them)
    and compare them as text afterwards; SQLAlchemy's Uuid wants UUID objects."""
    uuids = [c.name for c in table.columns if isinstance(c.type, Uuid) and c.name in rows[0]]
    return [{**row, **{key: as_uuid(row[key]) for key in uuids}} for row in rows]


class SqlStore:
    """`registry.store.Store` in SQLAlchemy Core."""

    async def claim_and_insert(self, conn: AsyncConnection, company_id: str, batch: Insertion) -> Claimed:
        """A statement per key claimed, then one for the records of the keys claimed now; a record that hits a
        unique constraint is skipped (SQLite's ON CONFLICT is cheap: `optimistic` changes nothing here)."""
        claims, now, table, records, owners = batch.claims, batch.now, batch.table, batch.records, batch.owners
        claimed = set()
        for key, digest, response in claims:
            values = {"company_id": company_id, "key": key, "request_hash": digest, "response": json.loads(response),
                      "created_at": now}  # fmt: skip
            if (await conn.execute(_insert_new(idempotency_keys, "key").values(**values))).first() is not None:
                claimed.add(key)
        columns = table.c.keys()
        new = [
            dict(zip(columns, r, strict=True))
            for r, n in zip(records, owners, strict=True)
            if claims[n - 1][0] in claimed
        ]
        if not new:
            return claimed, set()
        return claimed, {str(r.id) for r in await conn.execute(_insert_new(table, "id"), _typed(table, new))}

    async def claim(self, conn: AsyncConnection, company_id: str, key: str, digest: str, now: datetime) -> bool:
        values = {"company_id": company_id, "key": key, "request_hash": digest, "created_at": now}
        return (await conn.execute(_insert_new(idempotency_keys, "key").values(**values))).first() is not None

    async def hold(self, conn: AsyncConnection, company_id: str, key: str) -> bool:
        return True  # SQLite has one writer: a second request with the key waits, then replays the first's result

    async def stored(self, conn: AsyncConnection, company_id: str, key: str) -> tuple[str, dict[str, Any]]:
        query = select(KEY.request_hash, KEY.response).where(KEY.company_id == company_id, KEY.key == key)
        row = (await conn.execute(query)).one()
        return row.request_hash, row.response

    async def save_responses(self, conn: AsyncConnection, company_id: str, responses: Mapping[str, str]) -> None:
        for key, response in responses.items():
            query = update(idempotency_keys).where(KEY.company_id == company_id, KEY.key == key)
            await conn.execute(query.values(response=json.loads(response)))

    async def append(self, conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        await conn.execute(table.insert(), _typed(table, rows))

    async def existing_org_numbers(
        self, conn: AsyncConnection, table: Table, company_id: str, org_numbers: Sequence[str]
    ) -> set[str]:
        query = select(table.c.org_number).where(table.c.company_id == company_id, table.c.org_number.in_(org_numbers))
        return {r.org_number for r in await conn.execute(query)}

    async def matching(self, conn: AsyncConnection, table: Table, company_id: str, keys: Keys) -> list[tuple[Any, ...]]:
        c = table.c
        number = c.customer_number if table.name == "customers" else c.supplier_number
        wanted = or_(
            c.org_number.in_(keys.org_numbers),
            number.in_(keys.numbers),
            c.vat_number.in_(keys.vat_numbers),
            c.id.in_([as_uuid(i) for i in keys.ids]),
        )
        rows = await conn.execute(select(table).where(c.company_id == company_id, wanted))
        return [(str(r[0]), *r[1:]) for r in rows]
