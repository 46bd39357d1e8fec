"""The arq worker: jobs are plain `async def job(ctx, ...)`; shared clients live in a typed context."""

import uuid
from contextlib import AsyncExitStack
from typing import Any, TypedDict

import httpx
from arq import Retry, create_pool, cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Function, func
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.vies import ViesClient
from jobs.context import checker, ready_engine, vies_client
from jobs.ledger import runs
from jobs.pipeline import starting
from jobs.settings import Settings
from jobs.sync import connections, crm


class WorkerContext(TypedDict):
    """What `startup` puts into arq's ctx (arq adds redis, job_id, job_try, ...)."""

    settings: Settings
    engine: AsyncEngine
    vies: ViesClient | None
    http: httpx.AsyncClient
    exit_stack: AsyncExitStack
    redis: ArqRedis
    job_try: int


def import_job_id(run_id: uuid.UUID | str) -> str:
    # One job per run: enqueueing the same run twice is a no-op while the first job exists.
    return f"import:{run_id}"


async def startup(ctx: dict[str, Any]) -> None:
    settings = Settings()
    stack = AsyncExitStack()
    ctx.update(settings=settings, exit_stack=stack)
    engine = await ready_engine(settings)
    stack.push_async_callback(engine.dispose)
    ctx["engine"] = engine
    ctx["vies"] = await stack.enter_async_context(vies_client(settings))
    ctx["http"] = await stack.enter_async_context(httpx.AsyncClient(timeout=60))


async def shutdown(ctx: dict[str, Any]) -> None:
    stack: AsyncExitStack | None = ctx.get("exit_stack")
    if stack is not None:
        await stack.aclose()


async def import_run(ctx: WorkerContext, run_id: str) -> dict[str, Any]:
    """Process an import or reimport run; a retry (the worker died) resumes at the first unfinished batch."""
    settings, engine = ctx["settings"], ctx["engine"]
    try:
        vat = checker(settings, engine, ctx["vies"])
        run = await starting.execute(engine, uuid.UUID(run_id), tuning=settings.tuning(), vat=vat)
    except runs.RunError as exc:
        current = await runs.get_run(engine, run_id)
        if current["status"] in runs.FINISHED:
            return runs.summary(current)
        # Another process holds a live lease (e.g. an operator's `resume`): come back after it could expire.
        raise Retry(defer=settings.run_lease_s) from exc
    return runs.summary(run)


def sync_job_id(connection_id: uuid.UUID | str) -> str:
    # One job id per connection: arq refuses a second enqueue while one is queued or running.
    return f"sync:{connection_id}"


async def enqueue_sync(settings: Settings, connection_id: uuid.UUID, *, full: bool = False) -> bool:
    """Queue a sync of one connection; False when one is already queued or running."""
    if settings.redis_url is None:
        raise runs.RunError("--queue needs ROSTERSYNC_REDIS_URL (the worker's Redis)")
    redis = await create_pool(
        RedisSettings.from_dsn(settings.redis_url.get_secret_value()), default_queue_name=settings.queue_name
    )
    try:
        job = await redis.enqueue_job("sync_connection", str(connection_id), full, _job_id=sync_job_id(connection_id))
        return job is not None
    finally:
        await redis.aclose()


async def sync_connection(ctx: WorkerContext, connection_id: str, full: bool = False) -> dict[str, Any]:
    """Sync one connection; another process syncing it right now makes this one a no-op."""
    try:
        vat = checker(ctx["settings"], ctx["engine"], ctx["vies"])
        return await crm.sync(ctx["engine"], uuid.UUID(connection_id), http=ctx["http"], vat=vat, full=full)
    except connections.SyncBusy as exc:
        return {"connection_id": connection_id, "status": "skipped", "reason": str(exc)}


async def enqueue_due_syncs(ctx: WorkerContext) -> int:
    """Cron: queue every connection whose next sync is due (repeated ticks and many workers queue one job)."""
    queued = 0
    for connection_id in await connections.due(ctx["engine"]):
        job = await ctx["redis"].enqueue_job("sync_connection", str(connection_id), _job_id=sync_job_id(connection_id))
        queued += job is not None
    return queued


async def vat_recheck(ctx: WorkerContext) -> dict[str, int]:
    """Cron: the VIES rechecks that are due (their schedule lives in the database)."""
    return dict(await checker(ctx["settings"], ctx["engine"], ctx["vies"]).recheck_due())


def functions(settings: Settings) -> list[Function]:
    return [
        func(
            import_run,  # type: ignore[arg-type]
            name="import_run",
            max_tries=settings.job_max_tries,
            timeout=settings.job_timeout_s,
        ),
        # keep_result=0: the job id is free again as soon as the sync ends, so the next tick can queue it.
        func(sync_connection, name="sync_connection", max_tries=1, timeout=settings.job_timeout_s, keep_result=0),  # type: ignore[arg-type]
    ]


def worker_settings(settings: Settings, *, burst: bool = False) -> dict[str, Any]:
    """Keyword arguments for `arq.Worker`: built from our settings rather than a static class.

    A burst worker drains the queue and exits, so it runs no cron (a scheduled job would keep it alive)."""
    if settings.redis_url is None:
        raise ValueError("ROSTERSYNC_REDIS_URL is not set: the worker needs Redis")
    # unique: one worker runs each tick, however many workers share the queue. Every function gets the same
    # timeout because arq keeps a dead worker's job "in progress" for the largest timeout (+10 s) before retrying.
    recheck = cron(
        vat_recheck,  # type: ignore[arg-type]
        name="vat_recheck",
        second=0,
        unique=True,
        run_at_startup=True,
        timeout=settings.job_timeout_s,
    )
    due = cron(
        enqueue_due_syncs,  # type: ignore[arg-type]
        name="enqueue_due_syncs",
        second=30,
        unique=True,
        run_at_startup=True,
        timeout=settings.job_timeout_s,
    )
    crons = [] if burst else [recheck, due]
    return {
        "functions": functions(settings),
        "cron_jobs": crons,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url.get_secret_value()),
        "queue_name": settings.queue_name,
        "handle_signals": True,
        "max_jobs": 4,
        "job_timeout": settings.job_timeout_s,
        "burst": burst,
    }
