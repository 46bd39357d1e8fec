"""The arq worker: jobs are plain `async def job(ctx, ...)`; shared clients live in a typed context."""

import uuid
from typing import Any, TypedDict

from arq import Retry
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Function, func
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs import imports, runs
from worker.settings import Settings
from worker.wiring import ready_engine


class WorkerContext(TypedDict):
    """What `startup` puts into arq's ctx (arq adds redis, job_id, job_try, ...)."""

    settings: Settings
    engine: AsyncEngine
    redis: ArqRedis
    job_try: int


def import_job_id(run_id: uuid.UUID | str) -> str:
    # One job per run: enqueueing the same run twice is a no-op while the first job exists.
    return f"import:{run_id}"


async def startup(ctx: dict[str, Any]) -> None:
    settings = Settings()
    ctx["settings"] = settings
    ctx["engine"] = await ready_engine(settings)


async def shutdown(ctx: dict[str, Any]) -> None:
    engine: AsyncEngine | None = ctx.get("engine")
    if engine is not None:
        await engine.dispose()


async def import_run(ctx: WorkerContext, run_id: str) -> dict[str, Any]:
    """Process an import or reimport run; a retry (the worker died) resumes at the first unfinished batch."""
    settings, engine = ctx["settings"], ctx["engine"]
    try:
        run = await imports.execute(engine, uuid.UUID(run_id), tuning=settings.tuning())
    except runs.RunError as exc:
        current = await runs.get_run(engine, run_id)
        if current["status"] in runs.FINISHED:
            return runs.summary(current)
        # Another process holds a live lease (e.g. an operator's `resume`): come back after it could expire.
        raise Retry(defer=settings.run_lease_s) from exc
    return runs.summary(run)


def functions(settings: Settings) -> list[Function]:
    return [
        func(
            import_run,  # type: ignore[arg-type]
            name="import_run",
            max_tries=settings.job_max_tries,
            timeout=settings.job_timeout_s,
        )
    ]


def worker_settings(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `arq.Worker`: built from our settings rather than a static class."""
    if settings.redis_url is None:
        raise ValueError("ROSTERSYNC_REDIS_URL is not set: the worker needs Redis")
    return {
        "functions": functions(settings),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url.get_secret_value()),
        "queue_name": settings.queue_name,
        "handle_signals": True,
        "max_jobs": 4,
    }
