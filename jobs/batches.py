"""Source rows validated into the 50-item batches an import writes, and the in-file duplicate rule.

A batch is the 50 items at positions 50·i to 50·i+49 of the input, so batches can be validated apart (by
several reading processes) and still come out the same. Validation looks at one row at a time; "the first row
with an org number wins" needs the whole file before the row, so `FirstLines` applies it to the batches in
order, in the process that writes them.
"""

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator
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


def entry(kind: Kind, item: Item) -> Entry:
    if item.skip is not None:
        outcome: Valid | Rejected | None = None
    elif item.error is not None:
        outcome = Rejected(item.error)
    else:
        assert item.payload is not None
        outcome = validate(kind, item.payload)
    return Entry(item.row_number, item.skip, item.entity_id, outcome)


class Batcher:
    """Collects validated items into batches by their position in the input."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.batch: Batch | None = None
        self.raws: list[Any] = []

    def add(self, position: int, item: Item) -> Batch | None:
        """The batch this item completed, if it did."""
        index = position // MAX_ITEMS
        done = self.rest() if self.batch is not None and self.batch.index != index else None
        if self.batch is None:
            self.batch = Batch(index)
        self.batch.entries.append(entry(self.kind, item))
        self.raws.append(item.raw)
        if done is None and len(self.batch.entries) == MAX_ITEMS:
            return self.rest()
        return done

    def rest(self) -> Batch | None:
        """The batch being collected, closed (None when there is none)."""
        batch, self.batch = self.batch, None
        if batch is not None:
            batch.raw_json, self.raws = encode_raw(self.raws), []
        return batch


def batches(items: Iterable[Item | None], kind: Kind) -> Iterator[Batch]:
    """The items' batches; an item given as None is another reader's, and its batch is not made here."""
    batcher = Batcher(kind)
    for position, item in enumerate(items):
        if item is not None and (full := batcher.add(position, item)) is not None:
            yield full
    if (rest := batcher.rest()) is not None:
        yield rest


async def stream_batches(items: AsyncIterator[Item], kind: Kind) -> AsyncGenerator[Batch, None]:
    batcher = Batcher(kind)
    position = 0
    async for item in items:
        if (full := batcher.add(position, item)) is not None:
            yield full
        position += 1
    if (rest := batcher.rest()) is not None:
        yield rest


class FirstLines:
    """The file's first line of each org number: a later valid row with the same number fails as a duplicate.
    Sees every batch in order, done ones (of a resumed run) too."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.first: dict[str, int] = {}

    def __call__(self, batch: Batch) -> Batch:
        first = self.first
        for i, e in enumerate(batch.entries):
            if e.outcome.__class__ is Valid:
                org = e.outcome.values.get("org_number")
                if org is not None and (line := first.setdefault(org, e.row_number)) != e.row_number:
                    error = duplicate_error(self.kind, org, f"on line {line} of this file")
                    batch.entries[i] = e._replace(outcome=Rejected(error))
        return batch
