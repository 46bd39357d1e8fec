"""The arq worker: jobs are plain `async def job(ctx, ...)`; shared clients live in a typed context."""

import uuid
from contextlib import AsyncExitStack
from typing import Any, TypedDict

from arq import Retry, cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Function, func
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs import imports, runs
from jobs.vat import VatChecker
from worker.settings import Settings
from worker.wiring import ready_engine, vat_checker


class WorkerContext(TypedDict):
    """What `startup` puts into arq's ctx (arq adds redis, job_id, job_try, ...)."""

    settings: Settings
    engine: AsyncEngine
    vat: VatChecker
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
    ctx["vat"] = await stack.enter_async_context(vat_checker(settings, engine))


async def shutdown(ctx: dict[str, Any]) -> None:
    stack: AsyncExitStack | None = ctx.get("exit_stack")
    if stack is not None:
        await stack.aclose()


async def import_run(ctx: WorkerContext, run_id: str) -> dict[str, Any]:
    """Process an import or reimport run; a retry (the worker died) resumes at the first unfinished batch."""
    settings, engine = ctx["settings"], ctx["engine"]
    try:
        run = await imports.execute(engine, uuid.UUID(run_id), tuning=settings.tuning(), vat=ctx["vat"])
    except runs.RunError as exc:
        current = await runs.get_run(engine, run_id)
        if current["status"] in runs.FINISHED:
            return runs.summary(current)
        # Another process holds a live lease (e.g. an operator's `resume`): come back after it could expire.
        raise Retry(defer=settings.run_lease_s) from exc
    return runs.summary(run)


async def vat_recheck(ctx: WorkerContext) -> dict[str, int]:
    """Cron: the VIES rechecks that are due (their schedule lives in the database)."""
    return dict(await ctx["vat"].recheck_due())


def functions(settings: Settings) -> list[Function]:
    return [
        func(
            import_run,  # type: ignore[arg-type]
            name="import_run",
            max_tries=settings.job_max_tries,
            timeout=settings.job_timeout_s,
        )
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
    crons = [] if burst else [recheck]
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
