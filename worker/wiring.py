"""Building the shared clients a process needs: the database engine, with its schema current."""

from sqlalchemy.ext.asyncio import AsyncEngine

from registry.db import create_engine, is_current, upgrade
from worker.settings import Settings


class NotMigrated(Exception):
    pass


def engine_from(settings: Settings) -> AsyncEngine:
    return create_engine(settings.database_url.get_secret_value(), schema=settings.database_schema)


async def ready_engine(settings: Settings) -> AsyncEngine:
    """An engine whose schema is current. SQLite (the embedded default) migrates itself; a shared Postgres is
    migrated by its operator (`rostersync db upgrade`, the compose `migrate` step), never by a CLI call."""
    engine = engine_from(settings)
    if engine.dialect.name == "sqlite":
        await upgrade(engine)
    elif not await is_current(engine):
        await engine.dispose()
        raise NotMigrated("the database schema is not current: run `rostersync db upgrade` first")
    return engine
