"""Engines and schema upgrades for Postgres (asyncpg) and the embedded SQLite default (aiosqlite)."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration. Every command checks the schema against it, and importing alembic to find it out
# would slow every command's start; a test keeps it equal to alembic's own head.
HEAD = "0009"


def async_url(url: str) -> str:
    """Accept the URLs people write (postgresql://, sqlite:///) and pick the async driver."""
    parsed = make_url(url)
    driver = {
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
        "sqlite": "sqlite+aiosqlite",
    }
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, *, schema: str | None = None, pool_size: int = 8) -> AsyncEngine:
    """An engine for `url`; `schema` pins Postgres' search_path (each test gets its own schema)."""
    url = async_url(url)
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        kwargs["pool_size"] = pool_size
        if schema:
            kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `rostersync status` read while an import writes; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite's lower() knows only ASCII: a search for "åhlén" must find "Åhléns", as Postgres' lower() does.
    dbapi_connection.create_function("unicode_lower", 1, _lower, deterministic=True)


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _config(connection: Connection | None = None) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(_config(connection), "head")


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the schema is at the newest migration."""
    exists = (
        "SELECT to_regclass('alembic_version') IS NOT NULL"
        if engine.dialect.name == "postgresql"
        else "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    )
    async with engine.connect() as conn:
        if not (await conn.execute(text(exists))).scalar():
            return False
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() == HEAD


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already)."""
    if await is_current(engine):
        return
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
