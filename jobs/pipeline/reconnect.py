"""Riding out a dropped database connection (a failover, a restart, a terminated backend) during a run.

Each unit of a run's database work (a batch group's transaction, a heartbeat, taking or closing the run) is
sent again, on a fresh connection, while the error says the connection went away, for a bounded time. Sending
a unit twice is safe: a batch group that did commit before its connection dropped clashes on its ledger rows
and is then skipped (`Importer._unwritten`), and the run-row updates are idempotent for their lease owner.
Any other error is raised at once.
"""

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from typing import ParamSpec, TypeVar

import asyncpg
from sqlalchemy.exc import DBAPIError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

P = ParamSpec("P")
T = TypeVar("T")

# Class 08 (connection exceptions) and the server shutting down or starting up (57P01-57P03).
_GONE = (
    OSError,  # refused, reset, unreachable while the server restarts
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: SQLAlchemy's error, the dialect's, the driver's."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = getattr(current, "orig", None) or current.__cause__


def refusal(exc: BaseException) -> str | None:
    """What the database said when it refused the work (a missing table, a full disk), not having gone away;
    None for any other error. The server's own words hold no address or password, unlike a driver's."""
    said = [e for e in _chain(exc) if isinstance(e, asyncpg.PostgresError | sqlite3.DatabaseError)]
    return f"{type(said[-1]).__name__}: {said[-1]}" if said and not is_disconnect(exc) else None


def _gone(error: BaseException) -> bool:
    if isinstance(error, DBAPIError):
        return error.connection_invalidated
    if isinstance(error, asyncpg.InterfaceError):
        return "connection is closed" in str(error)
    return isinstance(error, _GONE)


def is_disconnect(exc: BaseException) -> bool:
    """Whether `exc` says the connection to the database went away or cannot be made right now. Never a
    cancellation, even one that came while a disconnect was handled: retrying it would swallow it."""
    return isinstance(exc, Exception) and any(map(_gone, _chain(exc)))


def reason(exc: BaseException) -> str:
    """The driver's name for what happened (never its message, which can hold the database's address)."""
    said = [error for error in _chain(exc) if _gone(error)]
    return type(said[-1] if said else exc).__name__


class Reconnecting:
    """Calls database work, again while it fails on a lost connection, for up to `budget_s` seconds."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s

    async def __call__(self, work: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: is_disconnect(exc) and not _cancelled()),
            stop=stop_after_delay(self.budget_s),
            wait=wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.1),
            reraise=True,
        )
        try:
            return await retrying(work, *args, **kwargs)
        except Exception as exc:
            # A cancelled transaction's rollback on a dropped connection fails, and that error replaces the
            # cancellation: retried, or raised as it is, the task would go on as if never cancelled (a task
            # group waiting for it would wait for ever).
            if _cancelled():
                raise asyncio.CancelledError from exc
            raise


def _cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
