"""Engines and schema upgrades for Postgres (asyncpg) and the embedded SQLite default (aiosqlite)."""

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration. Every command checks the schema against it, and importing alembic to find it out
# would slow every command's start; a test keeps it equal to alembic's own head.
HEAD = "0016"


_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
SUPPORTED = "postgresql (postgresql://user:password@host:5432/db) or sqlite (sqlite:///path/to/file.db)"
# libpq's sslmode (what hosted Postgres asks for) is asyncpg's `ssl`, which takes the same words.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_POSTGRES_OPTIONS = ("sslmode", "ssl", "host")  # host: the directory of a Unix socket


class DatabaseUrlError(ValueError):
    """The database URL cannot be used as written. The message never holds the URL: it may hold a password."""


def async_url(url: str) -> str:
    """Accept the URLs people write (postgresql://, sqlite:///) and pick the async driver; anything the drivers
    would fail on later (another database, a port that is no port, an option they do not take) is refused here."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(f"not a database URL: use {SUPPORTED}") from None
    except ValueError:  # the port is not a number
        raise DatabaseUrlError("the port is not a number (1-65535)") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise DatabaseUrlError(f"unsupported database {parsed.drivername!r}: use {SUPPORTED}")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise DatabaseUrlError(f"port {parsed.port} is out of range (1-65535)")
    parsed = parsed.set(drivername=driver, query=_driver_options(driver, parsed.query))
    return parsed.render_as_string(hide_password=False)


def _driver_options(driver: str, query: Mapping[str, str | tuple[str, ...]]) -> dict[str, str]:
    """The URL's options as the driver takes them."""
    taken = () if driver.startswith("sqlite") else _POSTGRES_OPTIONS
    options: dict[str, str] = {}
    for name, value in query.items():
        if name not in taken:
            allowed = f"it takes {', '.join(taken)}" if taken else "a SQLite URL takes none"
            raise DatabaseUrlError(f"unsupported option {name!r} in the URL ({allowed})")
        if not isinstance(value, str):
            raise DatabaseUrlError(f"the option {name!r} is given more than once")
        options[name] = value
    if "sslmode" in options:
        if "ssl" in options:
            raise DatabaseUrlError("give sslmode or ssl, not both")
        options["ssl"] = options.pop("sslmode")
    if "ssl" in options and options["ssl"] not in SSL_MODES:
        raise DatabaseUrlError(f"unknown sslmode {options['ssl']!r}: use one of {', '.join(SSL_MODES)}")
    return options


def is_unique_violation(exc: BaseException) -> bool:
    """A unique key refused a row: SQLAlchemy's IntegrityError, or asyncpg's own error where bulk writes use the
    driver directly (`registry.store_pg`)."""
    import asyncpg

    return isinstance(exc, (IntegrityError, asyncpg.UniqueViolationError))


def create_engine(url: str, *, schema: str | None = None, pool_size: int = 8) -> AsyncEngine:
    """An engine for `url`; `schema` pins Postgres' search_path (each test gets its own schema)."""
    url = async_url(url)
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # pre_ping: a pooled connection whose server went away (a failover, a restart) is replaced on checkout.
        kwargs.update(pool_size=pool_size, pool_pre_ping=True)
        if schema:
            kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine.sync_engine, "handle_error", _left_mid_operation)
    return engine


def _left_mid_operation(context: ExceptionContext) -> None:
    """asyncpg refuses every call on a connection whose backend died in the middle of an operation (a COPY cut
    off by a failover) with "another operation is in progress": the connection is as good as gone, so it is
    thrown away, not pooled, and the work retried on another (`jobs.pipeline.reconnect`)."""
    if "another operation is in progress" in str(context.original_exception):
        context.is_disconnect = True


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


async def schema_exists(engine: AsyncEngine) -> bool:
    """Whether the Postgres schema the engine's search_path names exists (SQLite has no schemas)."""
    if engine.dialect.name != "postgresql":
        return True
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT current_schema()"))).scalar() is not None


async def upgrade(engine: AsyncEngine, schema: str | None = None) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already). `schema`: the Postgres
    schema the engine was made for, created here when it does not exist yet."""
    if await is_current(engine):
        return
    create = schema is not None and not await schema_exists(engine)
    async with engine.begin() as conn:
        if create:
            assert schema is not None
            # As the search_path names it: an unquoted name there is lower-cased.
            name = conn.dialect.identifier_preparer.quote_schema(schema.lower())
            await conn.execute(text(f"CREATE SCHEMA {name}"))
        await conn.run_sync(_upgrade)
