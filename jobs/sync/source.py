"""What a sync writes, as an input of the write pipeline (`jobs.pipeline.importer`): the records a connection's
pages hold, or the records a sync run stored (its reimport). Each item carries its record's ref (id in the
source, archived there) for `jobs.pipeline.refs`, and the record as the source sent it, for a reimport."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from connectors.crm import ConnectorError, ExternalRecord
from jobs.pipeline.inputs import Interrupted, Item, Ref
from registry.items import unstorable

AGAIN = "the same record appears again in this read"


class ReadFailed(Interrupted):
    """The connected system failed the read: the run ends with the connector's message (which names the system
    and never holds a secret)."""

    def __init__(self, exc: ConnectorError) -> None:
        super().__init__("", str(exc))

    def __str__(self) -> str:
        return self.message


def _items(numbered: Iterable[tuple[int, ExternalRecord]], seen: set[str]) -> Iterator[Item]:
    """Offset paging can repeat a record on a later page: only its first reading is written."""
    for row_number, record in numbered:
        if record.external_id in seen:
            yield Item(row_number, record.raw, skip=AGAIN)
            continue
        seen.add(record.external_id)
        ref = Ref(record.external_id, record.archived)
        refused = unstorable(record.payload)
        if refused is not None:
            yield Item(row_number, record.raw, error=refused.error, ref=ref)
        else:
            yield Item(row_number, record.raw, record.payload, ref=ref)


class PagesInput:
    """A connection's records of one kind, page by page as the connector reads them. Reading starts when the
    input is entered (the first page's wait overlaps the run's set-up), and the next page is asked for while
    this one is validated and written: otherwise every page's wait for the system's answer would add to the
    sync's time."""

    headers = None
    total = 0  # learnt by reading
    warnings: list[str] = []  # noqa: RUF012 - never changed: a sync has no columns to warn about

    def __init__(self, pages: AsyncIterator[list[ExternalRecord]], after_page: Callable[[], Awaitable[None]]) -> None:
        self.pages = pages
        self.after_page = after_page  # e.g. renew the connection's lease
        self.ahead: asyncio.Queue[list[ExternalRecord] | Exception | None] = asyncio.Queue(maxsize=1)
        self.reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "PagesInput":
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.reader is not None:
            self.reader.cancel()

    async def items(self) -> AsyncIterator[Item]:
        assert self.reader is not None, "read inside `async with`"
        seen: set[str] = set()
        row_number = 0
        while (page := await self.ahead.get()) is not None:
            if isinstance(page, ConnectorError):
                raise ReadFailed(page) from page
            if isinstance(page, Exception):
                raise page
            for one in _items(enumerate(page, row_number + 1), seen):
                yield one
            row_number += len(page)
            await self.after_page()

    async def _read(self) -> None:
        try:
            async for page in self.pages:
                await self.ahead.put(page)
        except Exception as exc:  # raised where the items are read
            await self.ahead.put(exc)
        else:
            await self.ahead.put(None)


class StoredRecordsInput:
    """The records a sync run stored, mapped again by the connector (a mapping fix applies), with their rows'
    numbers; no request is made."""

    headers = None
    warnings: list[str] = []  # noqa: RUF012 - never changed

    def __init__(
        self,
        rows: AsyncIterator[list[tuple[int, Any]]],
        parse: Callable[[list[Any]], Iterable[ExternalRecord]],
        total: int,
    ) -> None:
        self.rows, self.parse, self.total = rows, parse, total

    async def items(self) -> AsyncIterator[Item]:
        seen: set[str] = set()
        async for batch in self.rows:
            records = self.parse([raw for _, raw in batch])
            for one in _items(((n, record) for (n, _), record in zip(batch, records, strict=True)), seen):
                yield one
