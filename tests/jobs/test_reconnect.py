"""The retry of database work whose connection went away: a disconnect is retried on a fresh connection, for a
bounded time; any other error is raised at once."""

import socket
import time
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

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
