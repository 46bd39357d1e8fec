"""The retry of database work whose connection went away: a disconnect is retried on a fresh connection, for a
bounded time; any other error is raised at once."""

import asyncio
import contextlib
import socket
import time
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from jobs.pipeline.reconnect import Reconnecting, is_disconnect, reason
from registry.db import create_engine
from tests.conftest import PG_URL


async def test_work_whose_backend_is_terminated_is_done_again_on_a_fresh_connection(pg_engine: Any) -> None:
    backends: list[int] = []

    async def work() -> int:
        async with pg_engine.connect() as conn:
            backends.append(await conn.scalar(text("SELECT pg_backend_pid()")))
            if len(backends) == 1:
                admin = await asyncpg.connect(PG_URL)
                try:
                    assert await admin.fetchval("SELECT pg_terminate_backend($1)", backends[0])
                finally:
                    await admin.close()
            return int(await conn.scalar(text("SELECT 1")))

    assert await Reconnecting(5)(work) == 1
    assert len(backends) == 2 and backends[0] != backends[1]


async def test_any_other_error_is_raised_at_once(pg_engine: Any) -> None:
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        async with pg_engine.begin() as conn:
            await conn.execute(text("CREATE TEMPORARY TABLE once (id int PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO once VALUES (1), (1)"))

    with pytest.raises(IntegrityError) as raised:
        await Reconnecting(5)(work)
    assert calls == 1 and not is_disconnect(raised.value)


async def test_a_database_that_stays_away_is_given_up_on_after_the_budget() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = create_engine(f"postgresql://postgres@127.0.0.1:{port}/test")
    calls = 0

    async def work() -> None:
        nonlocal calls
        calls += 1
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    started = time.monotonic()
    try:
        with pytest.raises(ConnectionRefusedError) as raised:
            await Reconnecting(0.5)(work)
    finally:
        await engine.dispose()
    assert 0.5 <= time.monotonic() - started < 3 and calls > 1
    assert is_disconnect(raised.value) and reason(raised.value) == "ConnectionRefusedError"


async def test_a_connection_left_in_the_middle_of_an_operation_counts_as_lost(pg_engine: Any) -> None:
    """As a connection whose backend died during a COPY is left: asyncpg refuses it every call after."""
    async with pg_engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        busy = asyncio.create_task(raw.fetchval("SELECT pg_sleep(0.3)"))
        await asyncio.sleep(0.05)
        with pytest.raises(DBAPIError) as raised:
            await conn.execute(text("SELECT 1"))
        with contextlib.suppress(Exception):
            await busy
    assert "another operation is in progress" in str(raised.value)
    assert raised.value.connection_invalidated and is_disconnect(raised.value)


async def test_a_cancellation_that_meets_a_disconnect_is_never_retried_away() -> None:
    """Cancelled inside its transaction, work whose clean-up fails on the dropped connection raises that error
    instead: the call still ends cancelled, after one attempt."""
    calls = 0
    started = asyncio.Event()

    async def work() -> None:
        nonlocal calls
        calls += 1
        try:
            started.set()
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise ConnectionResetError("the rollback's connection was gone") from None

    task = asyncio.create_task(Reconnecting(5)(work))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 3)
    assert calls == 1
