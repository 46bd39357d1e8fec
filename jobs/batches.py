"""Source rows validated, in source order, into the 50-item batches an import writes."""

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from jobs.run_rows import encode_raw
from jobs.sources import Item
from registry.bulk import MAX_ITEMS
from registry.fields import Kind
from registry.items import Rejected, Valid, duplicate_error, validate


class Entry(NamedTuple):
    """A source row ready for the writer: where it came from and what validation made of it."""

    row_number: int
    skip: str | None  # why it is not sent (then `outcome` is None)
    entity_id: str | None
    outcome: Valid | Rejected | None


@dataclass
class Batch:
    index: int
    entries: list[Entry] = field(default_factory=list)
    raw_json: str = "[]"  # the entries' raw source values, one JSON array (they are stored, never looked at)


class Validator:
    """Turns items into entries, remembering org numbers so later duplicates in the file fail."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.first_line: dict[str, int] = {}

    def __call__(self, item: Item) -> Entry:
        return Entry(item.row_number, item.skip, item.entity_id, self._outcome(item))

    def _outcome(self, item: Item) -> Valid | Rejected | None:
        if item.skip is not None:
            return None
        if item.error is not None:
            return Rejected(item.error)
        assert item.payload is not None
        checked = validate(self.kind, item.payload)
        if isinstance(checked, Rejected):
            return checked
        org = checked.values.get("org_number")
        if org is not None:
            first = self.first_line.setdefault(org, item.row_number)
            if first != item.row_number:
                return Rejected(duplicate_error(self.kind, org, f"on line {first} of this file"))
        return checked


class Batcher:
    def __init__(self, kind: Kind) -> None:
        self.validator = Validator(kind)
        self.batch = Batch(0)
        self.raws: list[Any] = []

    def add(self, item: Item) -> Batch | None:
        """The batch this item completed, if it did."""
        self.batch.entries.append(self.validator(item))
        self.raws.append(item.raw)
        if len(self.batch.entries) < MAX_ITEMS:
            return None
        return self._close(Batch(self.batch.index + 1))

    def rest(self) -> Batch | None:
        return self._close(Batch(0)) if self.batch.entries else None

    def _close(self, following: Batch) -> Batch:
        full, self.batch = self.batch, following
        full.raw_json, self.raws = encode_raw(self.raws), []
        return full


def batches(items: Iterator[Item], kind: Kind) -> Iterator[Batch]:
    batcher = Batcher(kind)
    for item in items:
        if (full := batcher.add(item)) is not None:
            yield full
    if (rest := batcher.rest()) is not None:
        yield rest


async def stream_batches(items: AsyncIterator[Item], kind: Kind) -> AsyncGenerator[Batch, None]:
    batcher = Batcher(kind)
    async for item in items:
        if (full := batcher.add(item)) is not None:
            yield full
    if (rest := batcher.rest()) is not None:
        yield rest
