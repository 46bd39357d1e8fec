"""Building the shared clients a process needs: the database engine (schema current) and the VIES checker."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.settings import Settings
from jobs.vat import VatChecker
from registry.db import create_engine, is_current, upgrade

if TYPE_CHECKING:
    from connectors.vies import ViesClient


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


def checker(settings: Settings, engine: AsyncEngine, client: "ViesClient | None") -> VatChecker:
    """A VAT checker for one job (what it remembers ends with the job); with VIES off it leaves checks pending."""
    return VatChecker(engine, client, cache_ttl=timedelta(seconds=settings.vies_cache_ttl_s))


@asynccontextmanager
async def vat_checker(settings: Settings, engine: AsyncEngine) -> AsyncIterator[VatChecker]:
    """A client and a checker for one CLI command."""
    async with vies_client(settings) as client:
        yield checker(settings, engine, client)
