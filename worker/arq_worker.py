"""The arq worker: jobs are plain `async def job(ctx, ...)` calls into the application layer; the clients they
share are built once at start-up into a typed context."""

import asyncio
import dataclasses
from contextlib import AsyncExitStack
from typing import Any, TypedDict

from arq import Retry, cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Function, async_check_health, func
from redis.exceptions import RedisError

from jobs import app as application
from jobs.context import open_context
from jobs.errors import RunError, SyncBusy
from jobs.records import SyncSummary
from jobs.settings import Settings

HEALTH_CHECK_S = 30  # how often a worker says it is alive (what `rostersync worker --check` reads)


class WorkerContext(TypedDict):
    """What `startup` puts into arq's ctx (arq adds redis, job_id, job_try, ...)."""

    app: application.Context
    exit_stack: AsyncExitStack
    redis: ArqRedis
    job_try: int


async def startup(ctx: dict[str, Any]) -> None:
    stack = AsyncExitStack()
    ctx["exit_stack"] = stack
    app = await stack.enter_async_context(open_context(Settings(), vies=True, http=True))
    app.worker = True
    ctx["app"] = app


async def shutdown(ctx: dict[str, Any]) -> None:
    stack: AsyncExitStack | None = ctx.get("exit_stack")
    if stack is not None:
        await stack.aclose()


async def import_run(ctx: WorkerContext, run_id: str) -> dict[str, Any]:
    """Process an import or reimport run; a retry (the worker died) resumes at the first unfinished batch."""
    app = ctx["app"]
    try:
        return (await application.resume(app, run_id)).to_json()
    except RunError as exc:
        current = await application.get_run(app, run_id)
        if current.finished:
            return current.to_json()
        # Another process holds a live lease (e.g. an operator's `resume`): come back after it could expire.
        raise Retry(defer=app.settings.run_lease_s) from exc


async def sync_connection(ctx: WorkerContext, connection_id: str, full: bool = False) -> dict[str, Any]:
    """Sync one connection; another process syncing it right now makes this one a no-op."""
    try:
        return (await application.sync(ctx["app"], connection_id, full=full)).to_json()
    except SyncBusy as exc:
        return SyncSummary(connection_id, "skipped", reason=str(exc)).to_json()


async def enqueue_due_syncs(ctx: WorkerContext) -> int:
    """Cron: queue every connection whose next sync is due (repeated ticks and many workers queue one job)."""
    return await application.enqueue_due_syncs(ctx["app"])


async def redispatch(ctx: WorkerContext) -> int:
    """Cron: queue again what a dead worker was doing, once its lease ran out (arq itself would wait for the
    job's timeout, an hour)."""
    return await application.redispatch_orphans(ctx["app"])


async def purge(ctx: WorkerContext) -> dict[str, Any]:
    """Cron: the retention of stored source values (ROSTERSYNC_PURGE_AFTER)."""
    app = ctx["app"]
    assert app.settings.purge_after is not None  # registered only then
    return (await application.purge_runs(app, app.settings.purge_after)).to_json()


async def vat_recheck(ctx: WorkerContext) -> dict[str, Any]:
    """Cron: the VIES rechecks that are due (their schedule lives in the database)."""
    return (await application.recheck_vat(ctx["app"])).to_json()


def functions(settings: Settings) -> list[Function]:
    return [
        func(
            import_run,  # type: ignore[arg-type]
            name=application.IMPORT_JOB,
            max_tries=settings.job_max_tries,
            timeout=settings.job_timeout_s,
        ),
        # keep_result=0: the job id is free again as soon as the sync ends, so the next tick can queue it.
        func(sync_connection, name=application.SYNC_JOB, max_tries=1, timeout=settings.job_timeout_s, keep_result=0),  # type: ignore[arg-type]
    ]


def _cron(job: Any, name: str, second: int | set[int], settings: Settings) -> Any:
    # unique: one worker runs each tick, however many workers share the queue. Every function gets the same
    # timeout because arq keeps a dead worker's job "in progress" for the largest timeout (+10 s) before retrying.
    return cron(job, name=name, second=second, unique=True, run_at_startup=True, timeout=settings.job_timeout_s)


def worker_settings(settings: Settings, *, burst: bool = False) -> dict[str, Any]:
    """Keyword arguments for `arq.Worker`: built from our settings rather than a static class.

    A burst worker drains the queue and exits, so it runs no cron (a scheduled job would keep it alive)."""
    if settings.redis_url is None:
        raise ValueError("ROSTERSYNC_REDIS_URL is not set: the worker needs Redis")
    crons = [
        _cron(vat_recheck, "vat_recheck", 0, settings),
        _cron(enqueue_due_syncs, "enqueue_due_syncs", 30, settings),
        _cron(redispatch, "redispatch", set(range(0, 60, settings.redispatch_every_s)), settings),
    ]
    if settings.purge_after is not None:
        crons.append(cron(purge, name="purge", hour=3, minute=0, second=0, unique=True, timeout=settings.job_timeout_s))  # type: ignore[arg-type]
    return {
        "functions": functions(settings),
        "cron_jobs": [] if burst else crons,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url.get_secret_value()),
        "queue_name": settings.queue_name,
        "handle_signals": True,
        "max_jobs": 4,
        "job_timeout": settings.job_timeout_s,
        "health_check_interval": HEALTH_CHECK_S,
        "burst": burst,
    }


def health_check(options: dict[str, Any]) -> int:
    """0 when a worker on this queue wrote its health-check key lately (it expires after the interval), else 1
    (also when Redis cannot be reached: a health check answers, it does not retry)."""
    key = f"{options['queue_name']}:health-check"
    redis = dataclasses.replace(options["redis_settings"], conn_retries=0)
    try:
        return asyncio.run(async_check_health(redis, key, options["queue_name"]))
    except (RedisError, OSError):
        return 1
