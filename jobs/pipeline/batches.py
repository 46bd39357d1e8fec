"""Source rows validated into the 50-item batches an import writes, and the in-file duplicate rule.

A batch is the rows at positions 50·i to 50·i+49 of the input, so batches can be made apart (by several
reading processes) and still come out the same. Each is planned as its bulk-create request where it is read
(`registry.plan.prepare`: validation, fingerprint, rows), so the writing process only sends it. Validation
looks at one row at a time; "the first row with an org number wins" needs the whole file before the row, so
`FirstLines` applies it to the batches in order, in the process that writes them.
"""

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

from jobs.ledger.run_rows import BatchRows, Outcome, encode_raw, rejected
from jobs.pipeline.inputs import Interrupted, Item, Ref
from jobs.pipeline.prints import Numbering
from registry.bulk import MAX_ITEMS
from registry.errors import FieldWarning
from registry.fields import Kind, own_number, payload_fields
from registry.items import Rejected, Valid, duplicate_error, validate
from registry.plan import Prepared, Result, Settled, prepare


class Entry(NamedTuple):
    """A source row in a batch: where it came from; rows without `skip` are the request's items, in order."""

    row_number: int
    skip: str | None  # why it is not sent
    entity_id: str | None
    ref: Ref | None = None


@dataclass
class Batch:
    index: int
    entries: list[Entry]
    request: Prepared  # the items, planned as one bulk-create request
    rows: BatchRows  # what the run records of the entries when the request goes in as planned
    changed: bool = False  # the request was changed after it was planned: `rows` no longer says what it does
    prints: dict[int, int] = field(default_factory=dict)  # request index -> fingerprint of a keyless record


def row_outcomes(entries: Sequence[Entry], result: Result) -> list[Outcome]:
    """What became of each source row of a batch, from the result of its request."""
    p = result.prepared
    if result.as_planned and len(p.records) == len(entries) and not p.warnings:
        # The usual batch: every row an item, every item created (one step a row instead of three calls).
        return [Outcome(e[0], "created", None, None, None, i) for e, i in zip(entries, result.ids, strict=True)]
    items = iter(result.outcomes())
    if p.settled:  # an import matched items to existing records (jobs.pipeline.matching)
        return _with_settled(entries, items, p.settled)
    return [
        _outcome(e.row_number, *next(items)) if e.skip is None
        else Outcome(e.row_number, "skipped", None, None, e.skip, e.entity_id)
        for e in entries
    ]  # fmt: skip


def _with_settled(entries: Sequence[Entry], items: Iterator[Any], settled: dict[int, Settled]) -> list[Outcome]:
    out = []
    index = 0  # the request index of the next entry sent
    for e in entries:
        if e.skip is not None:
            out.append(Outcome(e.row_number, "skipped", None, None, e.skip, e.entity_id))
            continue
        item = next(items)
        if (s := settled.get(index)) is not None:
            out.append(Outcome(e.row_number, s.status, s.code, s.field, s.message, s.entity_id))
        else:
            out.append(_outcome(e.row_number, *item))
        index += 1
    return out


def _outcome(row: int, error: dict[str, Any] | None, entity_id: str | None, warnings: list[FieldWarning]) -> Outcome:
    if error is not None:
        return rejected(row, error)
    if not warnings:
        return Outcome(row, "created", entity_id=entity_id)
    codes, fields = ",".join(w.code for w in warnings), ",".join(w.field for w in warnings)
    return Outcome(row, "created", codes, fields, "; ".join(w.message for w in warnings), entity_id)


def _item(kind: Kind, item: Item) -> Valid | Rejected:
    if item.error is not None:
        return Rejected(item.error)
    assert item.payload is not None
    return validate(kind, item.payload)


class Batcher:
    """Collects items into batches by their position in the input, and plans each batch's request."""

    def __init__(self, kind: Kind, company_id: str) -> None:
        self.kind = kind
        self.company_id = company_id
        self.index: int | None = None
        self.entries: list[Entry] = []
        self.items: list[Valid | Rejected] = []
        self.raws: list[Any] = []

    def add(self, position: int, item: Item) -> Batch | None:
        """The batch this item completed, if it did."""
        index = position // MAX_ITEMS
        done = self.rest() if self.index is not None and self.index != index else None
        self.index = index
        self.entries.append(Entry(item.row_number, item.skip, item.entity_id, item.ref))
        if item.skip is None:
            self.items.append(_item(self.kind, item))
        self.raws.append(item.raw)
        if done is None and len(self.entries) == MAX_ITEMS:
            return self.rest()
        return done

    def rest(self) -> Batch | None:
        """The batch being collected, closed (None when there is none)."""
        if self.index is None:
            return None
        request = prepare(self.kind, self.company_id, self.items, datetime.now(UTC))
        planned = BatchRows.of(self.index, row_outcomes(self.entries, Result.planned(request)), encode_raw(self.raws))
        batch = Batch(self.index, self.entries, request, planned)
        self.index, self.entries, self.items, self.raws = None, [], [], []
        return batch


def batches(items: Iterable[Item | None], kind: Kind, company_id: str, start: int = 0) -> Iterator[Batch]:
    """The batches of items from position `start` on; an item given as None is another reader's, and its
    batch is not made here."""
    batcher = Batcher(kind, company_id)
    for position, item in enumerate(items, start):
        if item is not None and (full := batcher.add(position, item)) is not None:
            yield full
    if (rest := batcher.rest()) is not None:
        yield rest


async def stream_batches(items: AsyncIterator[Item], kind: Kind, company_id: str) -> AsyncGenerator[Batch, None]:
    batcher = Batcher(kind, company_id)
    position = 0
    try:
        async for item in items:
            if (full := batcher.add(position, item)) is not None:
                yield full
            position += 1
    except Interrupted:
        if (rest := batcher.rest()) is not None:
            yield rest  # read before the interruption: written too
        raise
    if (rest := batcher.rest()) is not None:
        yield rest


class FirstLines:
    """The file's first line of each org number and of each own number (customer or supplier number): a later
    valid row with the same one fails as a duplicate, so one registry record never matches two rows of a file.
    Also numbers the keyless rows' fingerprints (`prints.Numbering`). Sees every batch in order, done ones (of a
    resumed run) too.

    A file's every number is kept until its end, each as one int (`_compact`): a million rows' numbers as str
    were most of an import's memory."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.first: dict[int, int] = {}
        self.first_number: dict[int, int] = {}
        self.org = payload_fields(kind).index("org_number")  # in a repeated item's values
        self.number = own_number(kind)
        self.numbering = Numbering(kind)

    def __call__(self, batch: Batch) -> Batch:
        request = batch.request
        self.numbering(batch)
        self._first_of(batch, "org_number", self.first, self._repeat)
        self._first_of(batch, self.number, self.first_number, self._repeat_number)
        if request.repeated:
            # Repeats within the request failed in it already, naming its item: name the file's line instead.
            for index, values in request.repeated.items():
                request.failed[index] = self._repeat(values[self.org])
            batch.changed = True
        return batch

    def _first_of(
        self, batch: Batch, column: str, first: dict[int, int], error: Callable[[str], dict[str, Any]]
    ) -> None:
        request, entries = batch.request, batch.entries
        # Each record's value and line (the items are the entries that are not skipped). C loops: this runs for
        # every batch of an import.
        items = entries if request.size == len(entries) else [e for e in entries if e.skip is None]
        values = list(map(itemgetter(request.column(column)), request.records))
        lines = list(map(_FIRST, map(items.__getitem__, request.positions)))
        seen = [(_compact(value), line) for value, line in zip(values, lines, strict=True) if value is not None]
        # A request's org numbers are distinct (a repeat in the request fails in it already); its own numbers
        # may not be.
        if first.keys().isdisjoint(map(_FIRST, seen)) and len(dict(seen)) == len(seen):
            first.update(seen)
            return
        for value, line, position in list(zip(values, lines, request.positions, strict=True)):
            if value is not None and first.setdefault(_compact(value), line) != line:
                request.reject(position, error(value))
                batch.changed = True

    def _repeat(self, number: str) -> dict[str, Any]:
        return duplicate_error(self.kind, number, f"on line {self.first[_compact(number)]} of this file")

    def _repeat_number(self, number: str) -> dict[str, Any]:
        label = self.number.replace("_", " ")
        message = f"{label} {number} is on line {self.first_number[_compact(number)]} of this file already"
        return {"code": DUPLICATE_NUMBER[self.kind], "message": message, "fields": {self.number: message}}


DUPLICATE_NUMBER: dict[Kind, str] = {"customers": "CUSTOMER_DUPLICATE_NUMBER", "suppliers": "SUPPLIER_DUPLICATE_NUMBER"}
_FIRST = itemgetter(0)


def _compact(value: str) -> int:
    """The text as one int: its UTF-8 bytes behind a 1 byte, so no two texts give the same int."""
    return int.from_bytes(b"\x01" + value.encode(), "big")
