"""Bulk-create's statements for Postgres, on asyncpg directly, inside the caller's SQLAlchemy transaction.

At import speed SQLAlchemy's per-statement and per-parameter processing would outweigh the database work.
Rows go by binary COPY where they can: asyncpg encodes each row in C, and Postgres reads it without parsing
text. Where a statement must decide per row (the careful insert), they go as one array of the table's row
type, expanded server-side by `unnest` (a JSON document per batch makes Postgres parse every row; an array per
column makes the driver check the type of every value in Python). Values are checked by the column types' own
input rules either way, so an over-long text fails rather than being cut.
The idempotency statements are asyncpg prepared statements. Columns the rows leave out get their server
defaults.
"""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import asyncpg
from sqlalchemy import JSON, Table, text
from sqlalchemy.ext.asyncio import AsyncConnection

from registry.store import Claimed, Insertion, Keys

CLAIM = (
    "INSERT INTO idempotency_keys (company_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT DO NOTHING RETURNING key"
)
HOLD = "SELECT pg_try_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))"
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


ON_ORG_CONFLICT = "ON CONFLICT (company_id, org_number) WHERE org_number IS NOT NULL DO NOTHING"
"""Only the org number can be a known duplicate; naming its index keeps Postgres from first probing every
unique index (the primary key too) for every row. A random id that collides is an error, not a duplicate."""


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


CLAIM_MANY = (
    "INSERT INTO idempotency_keys (company_id, key, request_hash, response, created_at) "
    "SELECT $1, c.key, c.digest, c.response::json, $4 "
    "FROM unnest($2::text[], $3::text[], $5::text[]) AS c(key, digest, response) "
    "ON CONFLICT DO NOTHING RETURNING key"
)


@cache
def _claim_and_insert_sql(table: Table) -> str:
    """Claim the keys ($2, with their request hashes $3 and responses $5) and insert the records ($6) whose
    key was claimed now: $7 holds, for each record, the (1-based) position of its key in $2. The claimed keys
    are collected once (an init plan), so the records go in in request order."""
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    values = ", ".join(f'r."{c.name}"' for c in table.columns)
    return (
        f"WITH claim AS ({CLAIM_MANY}), inserted AS ("  # noqa: S608 - identifiers come from our own Table objects
        f'INSERT INTO "{table.name}" ({names}) SELECT {values} '
        f'FROM unnest($6::"{table.name}"[]) WITH ORDINALITY AS r '
        "WHERE ($2::text[])[($7::int4[])[r.ordinality]] = ANY (ARRAY(SELECT key FROM claim)) "
        f"{ON_ORG_CONFLICT} RETURNING id) "
        "SELECT ARRAY(SELECT key FROM claim), ARRAY(SELECT id::text FROM inserted)"
    )


@cache
def _matching_sql(table: Table) -> str:
    """The records with any of the org numbers ($2), own numbers ($3), VAT numbers ($4) or ids ($5), each once.

    Each value is looked up in its key's index (the id in the primary key) on its own: a nested loop over the
    values; OFFSET 0 keeps the lookup from being flattened into a join. Asked as `key = ANY($2) OR ...`, a
    planner without statistics for the rows an import has just written takes the company's rows to be few,
    reads them all through the company index and filters them: every group of an import read the whole company
    again. The values come as a JSON array each: asyncpg checks every element of an array parameter against
    three abstract base classes, in Python."""
    names = ", ".join('"id"::text' if c.name == "id" else f'"{c.name}"' for c in table.columns)
    keys = ((2, "org_number", ""), (3, _own_number(table), ""), (4, "vat_number", ""), (5, "id", "::uuid"))
    lookups = (
        f"SELECT m.* FROM json_array_elements_text(${n}::json) AS k(v), LATERAL ("  # noqa: S608 - our own Table
        f'SELECT {names} FROM "{table.name}" WHERE company_id = $1 AND "{column}" = k.v{cast} OFFSET 0) AS m'
        for n, column, cast in keys
    )
    return " UNION ".join(lookups)


def _own_number(table: Table) -> str:
    return "customer_number" if table.name == "customers" else "supplier_number"


@cache
def _column_names(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns)


@cache
def _org_index(table: Table) -> str:
    (index,) = (i for i in table.indexes if i.unique and "org_number" in i.columns)
    return str(index.name)


class PostgresStore:
    """`registry.store.Store` on asyncpg."""

    async def claim_and_insert(self, conn: AsyncConnection, company_id: str, batch: Insertion) -> Claimed:
        """One statement claims the keys and inserts their records, `ON CONFLICT DO NOTHING` on the org number.

        `optimistic`: insert as if no org number existed yet, by binary COPY after the claim. `ON CONFLICT`
        looks for each row's org number before inserting it; COPY finds a clash only as it happens, and then
        both are undone (to a savepoint) and the one careful statement is sent."""
        claims, now, table, records, owners = batch.claims, batch.now, batch.table, batch.records, batch.owners
        driver = await _driver(conn)
        keys, digests, responses = ([c[i] for c in claims] for i in range(3))
        if not records:
            claimed = await driver.fetch(CLAIM_MANY, company_id, keys, digests, now, responses)
            return {r[0] for r in claimed}, set()
        if batch.optimistic:
            try:
                async with driver.transaction():  # a savepoint: the caller's transaction is open
                    claimed = {r[0] for r in await driver.fetch(CLAIM_MANY, company_id, keys, digests, now, responses)}
                    # The records of the keys claimed now; `records` and `owners` stay whole for the careful
                    # statement, which claims the keys again and pairs each record with its key by position.
                    fresh = records
                    if len(claimed) < len(keys):
                        fresh = [r for r, n in zip(records, owners, strict=True) if keys[n - 1] in claimed]
                    # Binary COPY: the driver encodes the rows without the checks it makes of an array's
                    # elements. The columns are named: the table's physical order may differ from its Table's.
                    await driver.copy_records_to_table(table.name, records=fresh, columns=_column_names(table))
                return claimed, {r[0] for r in fresh}
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != _org_index(table):
                    raise
        args = (company_id, keys, digests, now, responses, records, owners)
        claimed_now, ids = await driver.fetchrow(_claim_and_insert_sql(table), *args)
        return set(claimed_now), set(ids)

    async def claim(self, conn: AsyncConnection, company_id: str, key: str, digest: str, now: datetime) -> bool:
        return await (await _driver(conn)).fetchval(CLAIM, company_id, key, digest, now) is not None

    async def hold(self, conn: AsyncConnection, company_id: str, key: str) -> bool:
        # A second request with the key would otherwise wait on the first one's row lock, then replay it.
        return bool(await (await _driver(conn)).fetchval(HOLD, company_id, key))

    async def stored(self, conn: AsyncConnection, company_id: str, key: str) -> tuple[str, dict[str, Any]]:
        row = await (await _driver(conn)).fetchrow(STORED, company_id, key)
        response = row["response"]
        # SQLAlchemy's asyncpg dialect installs a json codec on its connections; a bare asyncpg one has none.
        return row["request_hash"], json.loads(response) if isinstance(response, str) else response

    async def save_responses(self, conn: AsyncConnection, company_id: str, responses: Mapping[str, str]) -> None:
        keys = list(responses)
        await (await _driver(conn)).execute(SAVE, company_id, keys, [responses[k] for k in keys])

    async def append(self, conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """JSON values are replaced by their text in the rows themselves. By binary COPY: as an array parameter,
        asyncpg checks every row against abstract base classes, in Python."""
        columns = tuple(rows[0])
        records = [tuple(map(row.__getitem__, columns)) for row in _records(table, rows)]
        await (await _driver(conn)).copy_records_to_table(table.name, records=records, columns=columns)

    async def existing_org_numbers(
        self, conn: AsyncConnection, table: Table, company_id: str, org_numbers: Sequence[str]
    ) -> set[str]:
        sql = f'SELECT org_number FROM "{table.name}" WHERE company_id = $1 AND org_number = ANY($2::text[])'  # noqa: S608
        return {r[0] for r in await (await _driver(conn)).fetch(sql, company_id, list(org_numbers))}

    async def matching(self, conn: AsyncConnection, table: Table, company_id: str, keys: Keys) -> list[tuple[Any, ...]]:
        driver = await _driver(conn)
        # An import grows the table from empty within one connection's life: a generic plan cached back then (a
        # sequential scan) would scan the whole company for every later group. Planned for each group's values
        # instead, and only this statement (for every statement it would slow the inserts down).
        await driver.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        values = map(_to_json, (keys.org_numbers, keys.numbers, keys.vat_numbers, keys.ids))
        found = await driver.fetch(_matching_sql(table), company_id, *values)
        await driver.execute("SET LOCAL plan_cache_mode = auto")
        return [tuple(r) for r in found]
