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
from collections.abc import Mapping, Sequence
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
SAVE = (
    "UPDATE idempotency_keys AS k SET response = s.response::json "
    "FROM unnest($2::text[], $3::text[]) AS s(key, response) WHERE k.company_id = $1 AND k.key = s.key"
)


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
def _insert_sql(
    table: Table, columns: tuple[str, ...], returning: str | None, param: str = "$1", only_if: str | None = None
) -> str:
    """Insert the records of array parameter `param`, if `only_if` holds."""
    names = ", ".join(f'"{name}"' for name in columns)
    values = ", ".join(f'(r)."{name}"' for name in columns)
    sql = (
        f'INSERT INTO "{table.name}" ({names}) '  # noqa: S608 - identifiers come from our own Table objects
        f'SELECT {values} FROM unnest({param}::"{table.name}"[]) AS r'
    )
    if only_if:
        sql += f" WHERE {only_if}"
    if returning is None:
        return sql
    # Only the org number can be a known duplicate; naming its index keeps Postgres from first probing every
    # unique index (the primary key too) for every row. A random id that collides is an error, not a duplicate.
    return f"{sql} ON CONFLICT (company_id, org_number) WHERE org_number IS NOT NULL DO NOTHING RETURNING {returning}"


# One encoder for every value: json.dumps with options builds a new encoder per call, once per row here.
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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
                    row[name] = _to_json(value)
    return rows


@cache
def _claim_and_insert_sql(table: Table, columns: tuple[str, ...]) -> str:
    # The rows go in only if this statement claimed the key; one round trip instead of two.
    insert = _insert_sql(table, columns, "id", "$5", "EXISTS (SELECT FROM claim)")
    return (
        f"WITH claim AS ({CLAIM}), inserted AS ({insert}) "  # noqa: S608 - our own statements
        "SELECT EXISTS (SELECT FROM claim), ARRAY(SELECT id::text FROM inserted)"
    )


async def claim_and_insert(
    conn: AsyncConnection,
    company_id: str,
    key: str,
    digest: str,
    now: datetime,
    table: Table,
    rows: Sequence[dict[str, Any]],
) -> set[str] | None:
    """Claim the idempotency key and insert rows (all with the same keys), skipping those whose org number
    exists; returns the inserted ids as text, or None (and inserts nothing) when the key was claimed before."""
    driver = await _driver(conn)
    if not rows:
        return set() if await driver.fetchval(CLAIM, company_id, key, digest, now) is not None else None
    sql = _claim_and_insert_sql(table, tuple(rows[0]))
    claimed, ids = await driver.fetchrow(sql, company_id, key, digest, now, _records(table, rows))
    return set(ids) if claimed else None


async def stored(conn: AsyncConnection, company_id: str, key: str) -> tuple[str, dict[str, Any]]:
    row = await (await _driver(conn)).fetchrow(STORED, company_id, key)
    response = row["response"]
    # SQLAlchemy's asyncpg dialect installs a json codec on its connections; a bare asyncpg one has none.
    return row["request_hash"], json.loads(response) if isinstance(response, str) else response


async def save_responses(conn: AsyncConnection, company_id: str, responses: Mapping[str, dict[str, Any]]) -> None:
    keys = list(responses)
    texts = [_to_json(responses[k]) for k in keys]
    await (await _driver(conn)).execute(SAVE, company_id, keys, texts)


async def append(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (all with the same keys) that cannot conflict: the caller owns their keys."""
    await (await _driver(conn)).execute(_insert_sql(table, tuple(rows[0]), None), _records(table, rows))


async def existing_org_numbers(
    conn: AsyncConnection, table: Table, company_id: str, org_numbers: Sequence[str]
) -> set[str]:
    sql = f'SELECT org_number FROM "{table.name}" WHERE company_id = $1 AND org_number = ANY($2::text[])'  # noqa: S608
    return {r[0] for r in await (await _driver(conn)).fetch(sql, company_id, list(org_numbers))}
