"""The HTTP API served for real: uvicorn on 127.0.0.1 in a thread of the test process, on the test's own
Postgres schema (or SQLite file), called with httpx as a client would."""

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from api.app import create_app
from jobs import keys
from jobs.settings import Settings
from registry.db import create_engine, upgrade
from tests.conftest import PG_URL


@dataclass
class Served:
    url: str
    settings: Settings

    def key(self, company: str, scopes: str) -> str:
        async def make() -> str:
            engine = create_engine(self.settings.database_url.get_secret_value(), schema=self.settings.database_schema)
            try:
                return (await keys.create(engine, company, keys.parse_scopes(scopes), "test")).key
            finally:
                await engine.dispose()

        return asyncio.run(make())

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, trust_env=False, timeout=30)


def _serve(settings: Settings) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def _migrated(url: str, schema: str | None) -> None:
    if schema is not None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await conn.close()
    engine = create_engine(url, schema=schema)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _dropped(schema: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@contextmanager
def serving(**settings: Any) -> Iterator[Served]:
    """The API on a Postgres schema of its own, with these settings; stopped and dropped at the end."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    asyncio.run(_migrated(PG_URL, schema))
    try:
        served = Settings(database_url=SecretStr(PG_URL), database_schema=schema, vies_enabled=False, **settings)
        with contextmanager(_serve)(served) as url:
            yield Served(url, served)
    finally:
        asyncio.run(_dropped(schema))


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Start the API with these settings (`serving`), as often as a test needs."""
    with ExitStack() as stack:
        yield lambda **settings: stack.enter_context(serving(**settings))


@pytest.fixture
def api(serve: Callable[..., Served]) -> Served:
    """The API on this test's own Postgres schema."""
    return serve()


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[Served]:
    """The API on the embedded default, as `rostersync serve` runs on a laptop."""
    settings = Settings(database_url=SecretStr(f"sqlite:///{tmp_path / 'embedded.db'}"), vies_enabled=False)
    with contextmanager(_serve)(settings) as url:
        yield Served(url, settings)
