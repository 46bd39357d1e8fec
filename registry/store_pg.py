"""Bulk-create's statements for Postgres, on asyncpg directly, inside the caller's SQLAlchemy transaction.

SQLAlchemy's per-statement and per-parameter processing costs more than the database work at import speed.
A batch goes as one array of the table's row type, expanded server-side by `unnest`: asyncpg encodes each row
dict as a binary record in C, and Postgres reads it without parsing text (a JSON document per batch cost
Postgres ~15 us a row to expand; an array per column cost the driver a Python-level type check per value).
Values are checked by the column types' own input rules, so an over-long text fails rather than being cut.
The idempotency statements are asyncpg prepared statements. Columns the rows leave out get their server
defaults. Same functions, same meaning as `store_sql`.
"""

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Table, text
from sqlalchemy.ext.asyncio import AsyncConnection

CLAIM = (
    "INSERT INTO idempotency_keys (company_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT DO NOTHING RETURNING key"
)
STORED = "SELECT request_hash, response FROM idempotency_keys WHERE company_id = $1 AND key = $2"
SAVE = "UPDATE idempotency_keys SET response = $3::json WHERE company_id = $1 AND key = $2"


async def _driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under `conn`, inside `conn`'s transaction.

    SQLAlchemy's asyncpg adapter opens its transaction lazily, with its first statement; statements sent
    straight to asyncpg before that would run in autocommit. Open it first."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        await conn.execute(text("SELECT 1"))  # SQLAlchemy begins (autobegin) on its first statement
    return driver


@cache
def _insert_sql(table: Table, columns: tuple[str, ...], returning: str | None) -> str:
    names = ", ".join(f'"{name}"' for name in columns)
    values = ", ".join(f'(r)."{name}"' for name in columns)
    sql = (
        f'INSERT INTO "{table.name}" ({names}) '  # noqa: S608 - identifiers come from our own Table objects
        f'SELECT {values} FROM unnest($1::"{table.name}"[]) AS r'
    )
    if returning is None:
        return sql
    # Only the org number can be a known duplicate; naming its index keeps Postgres from first probing every
    # unique index (the primary key too) for every row. A random id that collides is an error, not a duplicate.
    return f"{sql} ON CONFLICT (company_id, org_number) WHERE org_number IS NOT NULL DO NOTHING RETURNING {returning}"


@cache
def _json_columns(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if isinstance(c.type, JSON))


def _records(table: Table, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """The rows as records of the table's row type; JSON values go as their text (the rows are the caller's
    scratch dicts)."""
    for name in _json_columns(table):
        if name in rows[0]:
            for row in rows:
                value = row[name]
                if value is not None:
                    row[name] = json.dumps(value, ensure_ascii=False)
    return rows


async def claim_key(conn: AsyncConnection, company_id: str, key: str, digest: str, now: datetime) -> bool:
    return await (await _driver(conn)).fetchval(CLAIM, company_id, key, digest, now) is not None


async def stored(conn: AsyncConnection, company_id: str, key: str) -> tuple[str, dict[str, Any]]:
    row = await (await _driver(conn)).fetchrow(STORED, company_id, key)
    response = row["response"]
    # SQLAlchemy's asyncpg dialect installs a json codec on its connections; a bare asyncpg one has none.
    return row["request_hash"], json.loads(response) if isinstance(response, str) else response


async def save_response(conn: AsyncConnection, company_id: str, key: str, response: dict[str, Any]) -> None:
    await (await _driver(conn)).execute(SAVE, company_id, key, json.dumps(response, ensure_ascii=False))


async def insert_new(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert rows (all with the same keys), skipping those that hit a unique constraint; returns the ids of
    the inserted ones, as text."""
    records = await (await _driver(conn)).fetch(_insert_sql(table, tuple(rows[0]), "id"), _records(table, rows))
    return {str(r[0]) for r in records}


async def append(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) that cannot conflict: the caller owns their keys."""
    await (await _driver(conn)).execute(_insert_sql(table, tuple(rows[0]), None), _records(table, rows))


async def existing_org_numbers(
    conn: AsyncConnection, table: Table, company_id: str, org_numbers: Sequence[str]
) -> set[str]:
    sql = f'SELECT org_number FROM "{table.name}" WHERE company_id = $1 AND org_number = ANY($2::text[])'  # noqa: S608
    return {r[0] for r in await (await _driver(conn)).fetch(sql, company_id, list(org_numbers))}
