"""The migrations build exactly the tables the code declares, on both databases, and step back down."""

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from registry.db import _config, upgrade
from registry.tables import metadata


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [d for d in compare_metadata(context, metadata) if d[0] != "remove_table" or d[1].name != "alembic_version"]


async def test_migrated_schema_matches_the_declared_tables(engine: Any) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(_differences) == []


def _foreign_keys_of_import_rows(connection: Connection) -> list[Any]:
    return inspect(connection).get_foreign_keys("import_rows")


async def test_migrations_step_down_and_up_again(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(_config(c), "0004"))
        assert [fk["referred_table"] for fk in await conn.run_sync(_foreign_keys_of_import_rows)] == ["import_runs"]
    await upgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_foreign_keys_of_import_rows) == []
        assert await conn.run_sync(_differences) == []
