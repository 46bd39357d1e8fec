"""The migrations build exactly the tables the code declares, on both databases, and step back down."""

import uuid
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Connection, Integer, String, Uuid, column, inspect, select, table

from jobs.ledger import run_rows
from registry.db import HEAD, _config, is_current, upgrade
from registry.tables import metadata


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [d for d in compare_metadata(context, metadata) if d[0] != "remove_table" or d[1].name != "alembic_version"]


async def test_migrated_schema_matches_the_declared_tables(engine: Any) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(_differences) == []


def test_the_head_every_command_checks_for_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(_config()).get_current_head() == HEAD


def _foreign_keys_of_import_rows(connection: Connection) -> list[Any]:
    return inspect(connection).get_foreign_keys("import_rows")


async def _downgrade(engine: Any, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(_config(c), revision))


async def test_migrations_step_down_and_up_again(engine: Any) -> None:
    await _downgrade(engine, "0004")
    assert not await is_current(engine)
    async with engine.connect() as conn:
        assert [fk["referred_table"] for fk in await conn.run_sync(_foreign_keys_of_import_rows)] == ["import_runs"]
    await upgrade(engine)
    assert await is_current(engine)
    async with engine.connect() as conn:
        assert "import_rows" not in await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert await conn.run_sync(_differences) == []


# import_rows as revision 0005 left it: one row per source row.
OLD_ROWS = table(
    "import_rows",
    column("run_id", Uuid()), column("row_number", Integer()), column("batch_index", Integer()),
    column("status", String()), column("error_code", String()), column("error_field", String()),
    column("error_message", String()), column("entity_id", Uuid()), column("warnings", JSON()), column("raw", JSON()),
)  # fmt: skip


async def test_rows_of_earlier_runs_move_into_batches_and_back(engine: Any) -> None:
    run_id, created = uuid.uuid4(), uuid.uuid4()
    old = [
        {"row_number": 2, "batch_index": 0, "status": "created", "entity_id": created, "raw": ["Acme AB", "SE"]},
        {"row_number": 3, "batch_index": 0, "status": "failed", "error_code": "VALIDATION_ERROR",
         "error_field": "country", "error_message": "country: unknown", "raw": ["Bad AB", "Narnia"]},
        {"row_number": 60, "batch_index": 1, "status": "skipped", "error_message": "empty row", "raw": ["", ""]},
    ]  # fmt: skip
    old = [{"error_code": None, "error_field": None, "error_message": None, "entity_id": None, "warnings": None,
            "run_id": run_id, **row} for row in old]  # fmt: skip
    await _downgrade(engine, "0005")
    async with engine.begin() as conn:
        await conn.execute(OLD_ROWS.insert(), old)
    await upgrade(engine)

    moved = [row async for batch in run_rows.rows(engine, run_id) for row in batch]
    assert [(o.row_number, o.status, o.error_code, o.entity_id, raw) for o, raw in moved] == [
        (2, "created", None, str(created), ["Acme AB", "SE"]),
        (3, "failed", "VALIDATION_ERROR", None, ["Bad AB", "Narnia"]),
        (60, "skipped", None, None, ["", ""]),
    ]
    async with engine.connect() as conn:
        counts = await run_rows.counts(conn, run_id)
        assert (counts.created, counts.failed, counts.skipped) == (1, 1, 1)
        assert await run_rows.done_batches(conn, run_id) == {0, 1}
        assert await run_rows.highest_row(conn, [run_id]) == 60

    await _downgrade(engine, "0005")
    async with engine.connect() as conn:
        back = [dict(r) for r in (await conn.execute(select(OLD_ROWS).order_by(OLD_ROWS.c.row_number))).mappings()]
    assert back == old
    await upgrade(engine)
