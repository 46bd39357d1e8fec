"""Shared fixtures: every test gets its own Postgres schema (or SQLite file) and its own Redis database.

Our own database and Redis are never mocked: tests talk to the real servers started by scripts/services.sh.
"""

import asyncio
import functools
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from jobs.context import Context
from jobs.settings import Settings
from registry.db import create_engine, upgrade
from tests.forkserver import ForkServer

PG_URL = os.environ.get("ROSTERSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_HOST = os.environ.get("ROSTERSYNC_TEST_REDIS_HOST", "127.0.0.1")
ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("rostersync")


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
async def pg_engine(pg_schema: str) -> AsyncIterator[Any]:
    engine = create_engine(PG_URL, schema=pg_schema)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[Any]:
    engine = create_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(params=["postgres", "sqlite"])
def engine(request: pytest.FixtureRequest) -> Any:
    """The same test on both databases the product supports."""
    return request.getfixturevalue(f"{request.param}_engine".replace("postgres", "pg"))


def _own_redis_dbs() -> Iterator[int]:
    """Redis databases 1-15, shared out between the test processes (pytest-xdist) so that none flushes
    another's; each process cycles through its own."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    me = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    mine = [db for db in range(1, 16) if db % workers == me % workers]
    while True:
        yield from mine


_redis_dbs = _own_redis_dbs()


def app_context(engine: Any, **settings: Any) -> Context:
    """The application's context on a test's engine; VIES off unless a test gives a client."""
    return Context(Settings(vies_enabled=False, **settings), engine)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of its own (one of this process's share of 1-15, flushed before and after)."""
    db = next(_redis_dbs)
    client = redis.Redis(host=REDIS_HOST, port=6379, db=db)
    client.flushdb()
    yield f"redis://{REDIS_HOST}:6379/{db}"
    client.flushdb()
    client.close()


# One TLS context for every client: loading the CA certificates again for each one is slow on a busy machine,
# and the fakes speak plain HTTP anyway.
_TLS = ssl.create_default_context()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the fake servers on 127.0.0.1 (trust_env=False: no proxy from the environment)."""
    async with httpx.AsyncClient(trust_env=False, verify=_TLS) as client:
        yield client


@pytest.fixture
def cli_env(pg_schema: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running the real `rostersync` command against this test's Postgres schema."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTERSYNC_")}
    env.update(
        ROSTERSYNC_DATABASE_URL=PG_URL,
        ROSTERSYNC_DATABASE_SCHEMA=pg_schema,
        ROSTERSYNC_VIES_ENABLED="false",
        ROSTERSYNC_QUEUE_NAME=f"q-{pg_schema}",
        COLUMNS="200",
    )
    # As `rostersync db upgrade` does, without a process to start; in a thread of its own, since an async test's
    # loop may be running already.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _upgrade(pg_schema)).result()
    return env


async def _upgrade(schema: str) -> None:
    engine = create_engine(PG_URL, schema=schema)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def sqlite_cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTERSYNC_")}
    env.update(
        ROSTERSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'embedded.db'}",
        ROSTERSYNC_VIES_ENABLED="false",
        COLUMNS="200",
    )
    return env


@functools.cache
def _fork_server() -> ForkServer:
    return ForkServer()


def fork_servers() -> set[int]:
    """The pid of this process's CLI fork server, once it has one."""
    return {_fork_server().pid} if _fork_server.cache_info().currsize else set()


def rostersync(
    *args: str, env: dict[str, str], timeout: float = 120, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would: a process of its own, no standard input (see tests/forkserver.py)."""
    if not os.environ.get("ROSTERSYNC_TEST_EXEC") and set(kwargs) <= {"cwd"}:
        cwd = kwargs.get("cwd")
        return _fork_server().run(str(CLI), list(args), env, None if cwd is None else str(cwd), timeout)
    return subprocess.run(
        [str(CLI), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
        cwd=kwargs.pop("cwd", None),
        **kwargs,
    )
