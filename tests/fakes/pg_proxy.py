"""A TCP proxy to the test Postgres that can take the database away from its clients, as a restart or a failover
looks to them, while the server every other test shares goes on.

    with PgProxy("127.0.0.1", 5432) as proxy:
        url = proxy.url(PG_URL)   # the same database, through the proxy
        proxy.lose_a_commit()     # the next batch commit commits, but its client never hears so
        proxy.cut()               # every connection drops, and nothing listens on the port any more

`lose_a_commit` watches for the simple-protocol COMMIT that follows a statement containing `after` on the same
connection (a statement's first use there: later ones reuse the prepared statement without its text); the
server's answer to it is dropped with the connection.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

BATCH_WRITE = b'COPY "import_batches"'  # how a batch group's run rows go in
COMMIT = b"COMMIT"


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    wrote: bool = False  # the statement a lost commit is to follow
    lose_answer: bool = False


class PgProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.commits_lost = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._cut_off = False
        self._lose_after: bytes | None = None

    def __enter__(self) -> PgProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def url(self, database_url: str) -> str:
        """`database_url` (of the target) through the proxy."""
        parts = urlsplit(database_url)
        netloc = parts.netloc.rsplit("@", 1)
        netloc[-1] = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc="@".join(netloc)))

    def cut(self) -> None:
        """Drop every connection and stop listening: a client connecting now is refused."""
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(timeout=10)

    def lose_a_commit(self, after: bytes = BATCH_WRITE) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "_lose_after", after)

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(self._client, "127.0.0.1", 0)

    async def _cut(self) -> None:
        self._cut_off = True
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            self._drop(link)

    def _drop(self, link: _Link) -> None:
        self._links.discard(link)
        link.client.transport.abort()
        link.server.transport.abort()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer)
        if self._cut_off:  # connected while the cut happened
            self._drop(link)
            return
        self._links.add(link)
        try:
            await asyncio.gather(self._upstream(reader, link), self._downstream(up_reader, link))
        except OSError:
            pass
        finally:
            self._drop(link)

    async def _upstream(self, reader: asyncio.StreamReader, link: _Link) -> None:
        tail = b""
        while data := await reader.read(65536):
            seen, tail = tail + data, data[-32:]
            if self._lose_after is not None:
                link.wrote = link.wrote or self._lose_after in seen
                if link.wrote and COMMIT in seen:
                    self._lose_after, link.lose_answer = None, True
            link.server.write(data)
            await link.server.drain()
        self._drop(link)

    async def _downstream(self, reader: asyncio.StreamReader, link: _Link) -> None:
        while data := await reader.read(65536):
            if link.lose_answer:  # the server answered the COMMIT: it is durable, and the client never knows
                self.commits_lost += 1
                break
            link.client.write(data)
            await link.client.drain()
        self._drop(link)
