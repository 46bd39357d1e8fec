"""Handing work to `rostersync worker` through arq. One job id per run and per connection: arq refuses a second
job with an id that is queued or running, so enqueueing twice never runs the same work twice at once."""

import uuid
from typing import Any

from jobs.errors import RunError
from jobs.settings import Settings

IMPORT_JOB = "import_run"
SYNC_JOB = "sync_connection"


def import_job_id(run_id: uuid.UUID | str) -> str:
    return f"import:{run_id}"


def sync_job_id(connection_id: uuid.UUID | str) -> str:
    return f"sync:{connection_id}"


async def enqueue(settings: Settings, function: str, *args: Any, job_id: str) -> bool:
    """Queue one job; False when a job with that id is already queued or running."""
    from arq import create_pool
    from arq.connections import RedisSettings

    if settings.redis_url is None:
        raise RunError("--queue needs ROSTERSYNC_REDIS_URL (the worker's Redis)")
    redis = await create_pool(
        RedisSettings.from_dsn(settings.redis_url.get_secret_value()), default_queue_name=settings.queue_name
    )
    try:
        return await redis.enqueue_job(function, *args, _job_id=job_id) is not None
    finally:
        await redis.aclose()
