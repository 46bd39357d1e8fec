"""Handing work to `rostersync worker` through arq. One job id per run and per connection: arq refuses a second
job with an id that is queued or running, so enqueueing twice never runs the same work twice at once."""

import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from jobs.errors import RunError
from jobs.settings import Settings

if TYPE_CHECKING:
    from arq.connections import ArqRedis, RedisSettings

IMPORT_JOB = "import_run"
SYNC_JOB = "sync_connection"


def import_job_id(run_id: uuid.UUID | str, attempt: int = 0) -> str:
    # A re-dispatch of a run whose worker died takes a new id: the dead worker's job keeps the old one in
    # arq until its timeout.
    return f"import:{run_id}" if attempt == 0 else f"import:{run_id}:{attempt}"


def sync_job_id(connection_id: uuid.UUID | str, attempt: int = 0) -> str:
    return f"sync:{connection_id}" if attempt == 0 else f"sync:{connection_id}:{attempt}"


def redis_settings(settings: Settings, *, retries: int | None = None) -> "RedisSettings":
    from arq.connections import RedisSettings

    if settings.redis_url is None:
        raise RunError("this needs ROSTERSYNC_REDIS_URL (the worker's Redis)")
    found = RedisSettings.from_dsn(settings.redis_url.get_secret_value())
    return found if retries is None else dataclasses.replace(found, conn_retries=retries)


def _where(redis: "RedisSettings") -> str:
    # Host and port only: the URL may carry a password.
    return f"{redis.host}:{redis.port}"


@asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator["ArqRedis"]:
    """A connection to the queue's Redis, or a RunError that says in one line why there is none."""
    from arq import create_pool
    from redis.exceptions import AuthenticationError, RedisError

    found = redis_settings(settings, retries=0)
    try:
        redis = await create_pool(found, default_queue_name=settings.queue_name)
        await redis.ping()
    except AuthenticationError:
        raise RunError(f"Redis at {_where(found)} refused the credentials in ROSTERSYNC_REDIS_URL") from None
    except (RedisError, OSError) as exc:
        raise RunError(f"Redis is unreachable at {_where(found)} ({type(exc).__name__})") from None
    try:
        yield redis
    finally:
        await redis.aclose()


async def reachable(settings: Settings) -> None:
    """Raise a one-line RunError unless the queue's Redis answers."""
    async with connected(settings):
        pass


async def enqueue(settings: Settings, function: str, *args: Any, job_id: str) -> bool:
    """Queue one job; False when a job with that id is already queued or running."""
    return await enqueue_many(settings, [(function, args, job_id)]) == 1


async def enqueue_many(settings: Settings, jobs: Sequence[tuple[str, Sequence[Any], str]]) -> int:
    """Queue (function, args, job id) jobs on one connection; returns how many were new."""
    from redis.exceptions import RedisError

    async with connected(settings) as redis:
        try:
            return sum([await redis.enqueue_job(f, *args, _job_id=job_id) is not None for f, args, job_id in jobs])
        except (RedisError, OSError) as exc:
            raise RunError(f"Redis failed while queueing ({type(exc).__name__})") from None
