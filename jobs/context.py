"""The shared clients a process builds once and every application call uses: the database engine (schema
current) and, for the calls that reach out, the VIES client and an HTTP client."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.settings import Settings
from jobs.vat import VatChecker
from registry.db import create_engine, is_current, schema_exists, upgrade

if TYPE_CHECKING:
    import httpx

    from connectors.vies import ViesClient


class NotMigrated(Exception):
    """The database cannot be used as it is; the message says what to do."""


class NoDatabase(NotMigrated):
    """The embedded database does not exist yet, and a read-only command does not create it."""


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    vies: "ViesClient | None" = None  # None: VIES is switched off, or this process makes no checks
    http: "httpx.AsyncClient | None" = None  # for the CRMs
    worker: bool = False  # a queue worker: the runs it leaves behind when it dies are dispatched again

    def vat_checker(self) -> VatChecker:
        """A checker for one job (what it remembers ends with the job); without a client checks stay pending."""
        return VatChecker(self.engine, self.vies, cache_ttl=timedelta(seconds=self.settings.vies_cache_ttl_s))


def engine_from(settings: Settings) -> AsyncEngine:
    return create_engine(settings.database_url.get_secret_value(), schema=settings.database_schema)


def _sqlite_file(settings: Settings) -> Path | None:
    url = make_url(settings.database_url.get_secret_value())
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


async def ready_engine(settings: Settings, *, create: bool = True) -> AsyncEngine:
    """An engine whose schema is current. SQLite (the embedded default) migrates itself, and is created only
    where `create` (a read-only command never leaves a database file behind); a shared Postgres is migrated
    by its operator (`rostersync db upgrade`), never by a command."""
    sqlite_file = _sqlite_file(settings)
    if sqlite_file is not None and not create and not sqlite_file.exists():
        raise NoDatabase(f"no registry at {sqlite_file} yet (ROSTERSYNC_DATABASE_URL): nothing was imported there")
    engine = engine_from(settings)
    if engine.dialect.name == "sqlite":
        await upgrade(engine)
    elif not await is_current(engine):
        missing = not await schema_exists(engine)
        await engine.dispose()
        raise NotMigrated(
            _no_schema(settings) if missing else "the database schema is not current: run `rostersync db upgrade` first"
        )
    return engine


def _no_schema(settings: Settings) -> str:
    if settings.database_schema:
        return (
            f"the database schema {settings.database_schema!r} (ROSTERSYNC_DATABASE_SCHEMA) does not exist: "
            "run `rostersync db upgrade` to create it"
        )
    return (
        "no schema of the database's search_path exists: create one, or set ROSTERSYNC_DATABASE_SCHEMA and run "
        "`rostersync db upgrade`"
    )


def database_failure(exc: BaseException) -> str:
    """Why the database cannot be used, in words that never hold its URL (a driver's message may)."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, ConnectionError) and "rejected SSL upgrade" in str(cause):
        return "the server does not support SSL, which the URL's sslmode requires (sslmode=prefer or disable)"
    return type(cause).__name__


@asynccontextmanager
async def vies_client(settings: Settings) -> AsyncIterator["ViesClient | None"]:
    """One VIES client per process: it holds the concurrency limits and the breakers. None when switched off
    (then no HTTP stack is even imported)."""
    if not settings.vies_enabled:
        yield None
        return
    import httpx

    from connectors.vies import ViesClient

    async with httpx.AsyncClient(timeout=settings.vies_timeout_s) as http:
        yield ViesClient(
            http,
            settings.vies_url,
            per_state_limit=settings.vies_per_state_limit,
            overall_limit=settings.vies_overall_limit,
            request_timeout_s=settings.vies_timeout_s,
            retry_budget_s=settings.vies_retry_budget_s,
            cooldown_s=settings.vies_cooldown_s,
        )


@asynccontextmanager
async def open_context(
    settings: Settings, *, migrate: bool = True, create: bool = True, vies: bool = False, http: bool = False
) -> AsyncIterator[Context]:
    """Build what a process (or one CLI command) needs, and close it all at the end. `migrate=False`: the engine
    as it is (for `db upgrade` itself); `vies`/`http`: build those clients too."""
    async with AsyncExitStack() as stack:
        engine = await ready_engine(settings, create=create) if migrate else engine_from(settings)
        stack.push_async_callback(engine.dispose)
        context = Context(settings, engine)
        if vies:
            context.vies = await stack.enter_async_context(vies_client(settings))
        if http:
            import httpx  # here: most commands start without an HTTP stack

            context.http = await stack.enter_async_context(httpx.AsyncClient(timeout=60))
        yield context
