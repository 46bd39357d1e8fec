"""A run's record of every source row: its number, outcome, reason, created id and raw values, kept per batch.

A batch's rows are one row of `import_batches`: the batch's counts, its rows' outcomes as one JSON array
(`[row_number, status, error_code, error_field, error_message, entity_id]` each) and their raw source values as
another (a list of cells, or a record of an API). One database row per batch instead of one per source row
keeps the bookkeeping a fiftieth of the rows to write and read back. The outcomes are apart from the raw
values, so finding which rows a family of runs already created does not read every source value again.
"""

import json
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from registry.bulk import store
from registry.tables import import_batches

ARCHIVED = "ARCHIVED"  # the note on an updated row whose record was archived
STATUSES = ("created", "updated", "skipped", "failed")

_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Outcome(NamedTuple):
    """What became of one source row."""

    row_number: int
    status: str  # created | updated | skipped | failed
    error_code: str | None = None
    error_field: str | None = None
    error_message: str | None = None
    entity_id: str | None = None


def rejected(row_number: int, error: Mapping[str, Any], status: str = "failed") -> Outcome:
    """A row's outcome from a bulk-create error: its code, the fields it names, its message."""
    return Outcome(row_number, status, error["code"], ",".join(error.get("fields") or {}) or None, error["message"])


_ROW, _STATUS, _CODE, _FIELD = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)


class Row(NamedTuple):
    """One source row as a run recorded it: its outcome and its raw values."""

    outcome: Outcome
    raw: Any


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    archived: int = 0  # of the updated rows: a sync's barred / inactive records (status stays "updated")
    warned: int = 0  # of the created and updated rows: those with a warning (a field stored as supplied)

    def add(self, other: "Counts") -> None:
        self.created += other.created
        self.updated += other.updated
        self.skipped += other.skipped
        self.failed += other.failed
        self.archived += other.archived
        self.warned += other.warned

    @classmethod
    def of(cls, outcomes: Sequence[Outcome]) -> "Counts":
        # Counted by C loops: this runs for every batch an import writes.
        statuses = Counter(map(_STATUS, outcomes))
        archived = list(map(_CODE, outcomes)).count(ARCHIVED)
        # A warning names its field; a sync's notes (ARCHIVED, LINKED) name none. The usual batch names no
        # field at all, which one C loop tells.
        fields = list(map(_FIELD, outcomes))
        warned = 0
        if fields.count(None) != len(fields):
            warned = sum(1 for o in outcomes if o[3] is not None and o[1] != "failed")
        counts = statuses["created"], statuses["updated"], statuses["skipped"], statuses["failed"]
        return cls(*counts, archived, warned)

    def columns(self) -> dict[str, int]:
        """The count columns of a run (and of a batch)."""
        return {
            "processed": self.processed,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
            "archived": self.archived,
            "warned": self.warned,
        }

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.skipped + self.failed

    def final_status(self) -> str:
        if self.failed == 0:
            return "succeeded"
        return "failed" if self.failed == self.processed else "partially_succeeded"


@dataclass
class BatchRows:
    """The rows of one batch, ready to be stored: their outcomes and raw values as JSON texts."""

    index: int
    outcomes_json: str
    raw_json: str
    counts: Counts
    max_row: int  # the highest row number among them

    @classmethod
    def of(cls, index: int, outcomes: Sequence[Outcome], raw_json: str) -> "BatchRows":
        highest = max(map(_ROW, outcomes), default=0)
        return cls(index, _to_json(outcomes), raw_json, Counts.of(outcomes), highest)

    def outcomes(self) -> list[Outcome]:
        return _outcomes(self.outcomes_json)


def encode_raw(raws: Sequence[Any]) -> str:
    """The source values as JSON text a database can store: a NUL (JSON writes it as an escape, which Postgres'
    JSON functions refuse) or half a surrogate pair (which no encoding holds) becomes U+FFFD."""
    text = _to_json(raws)
    if "\\u0000" in text:
        text = text.replace("\\u0000", "\ufffd")
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            text = _SURROGATE.sub("\ufffd", text)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


async def write(conn: AsyncConnection, run_id: uuid.UUID, batches: Sequence[BatchRows]) -> Counts:
    """Store the batches' rows (in the caller's transaction); returns their counts together."""
    total = Counts()
    records = []
    for b in batches:
        total.add(b.counts)
        counts = b.counts.columns()
        del counts["processed"]
        records.append(
            {"run_id": str(run_id), "batch_index": b.index, "max_row": b.max_row, **counts,
             "outcomes": b.outcomes_json, "raw": b.raw_json}
        )  # fmt: skip
    if records:
        await store(conn).append(conn, import_batches, records)
    return total


async def counts(conn: AsyncConnection, run_id: uuid.UUID) -> Counts:
    c = import_batches.c
    query = select(
        *(
            func.coalesce(func.sum(column), 0)
            for column in (c.created, c.updated, c.skipped, c.failed, c.archived, c.warned)
        )
    ).where(c.run_id == run_id)
    return Counts(*map(int, (await conn.execute(query)).one()))


async def done_batches(conn: AsyncConnection, run_id: uuid.UUID) -> set[int]:
    rows = await conn.execute(select(import_batches.c.batch_index).where(import_batches.c.run_id == run_id))
    return {index for (index,) in rows}


def _outcomes(text: str) -> list[Outcome]:
    return [Outcome(*o) for o in json.loads(text)]


async def outcomes(conn: AsyncConnection, run_ids: Iterable[uuid.UUID], *, failed_only: bool = False) -> list[Outcome]:
    """The outcomes of every row of these runs (without their raw values)."""
    c = import_batches.c
    query = select(c.outcomes).where(c.run_id.in_(list(run_ids)))
    if failed_only:
        query = query.where(c.failed > 0)
    found = [o for (text,) in await conn.execute(query) for o in _outcomes(text)]
    return [o for o in found if o.status == "failed"] if failed_only else found


async def highest_row(conn: AsyncConnection, run_ids: Iterable[uuid.UUID]) -> int:
    c = import_batches.c
    return int(await conn.scalar(select(func.max(c.max_row)).where(c.run_id.in_(list(run_ids)))) or 0)


async def rows(engine: AsyncEngine, run_id: uuid.UUID, *, failed_only: bool = False) -> AsyncIterator[list[Row]]:
    """The run's rows in the order it read them, a batch at a time, streamed."""
    c = import_batches.c
    query = select(c.outcomes, c.raw).where(c.run_id == run_id).order_by(c.batch_index)
    if failed_only:
        query = query.where(c.failed > 0)
    async with engine.connect() as conn:
        async for outcomes_text, raw_text in await conn.stream(query.execution_options(yield_per=100)):
            batch = [Row(o, raw) for o, raw in zip(_outcomes(outcomes_text), json.loads(raw_text), strict=True)]
            yield [r for r in batch if r.outcome.status == "failed"] if failed_only else batch


async def page(
    engine: AsyncEngine,
    run_id: uuid.UUID,
    *,
    status: str | None = None,
    after: str | None = None,
    limit: int = 100,
    finished: bool = True,
) -> tuple[list[Row], str | None]:
    """Up to `limit` rows (of one status) in the order the run read them, after the cursor `after`; returns the
    rows and the cursor to go on from, None once a finished run has no more. A cursor is "batch.position". An
    unfinished run's batches commit out of order, so a page stops before the first batch not committed yet,
    and the cursor picks up there."""
    if limit < 1:
        raise ValueError("the limit must be at least 1")
    if status is not None and status not in STATUSES:
        raise ValueError(f"invalid status {status!r}: use one of {', '.join(STATUSES)}")
    start_batch, start_at = _cursor(after)
    c = import_batches.c
    query = select(c.batch_index, c.outcomes, c.raw).where(c.run_id == run_id, c.batch_index >= start_batch)
    if status is not None and finished:  # (unfinished: every batch is read, so a gap is seen)
        query = query.where(getattr(c, status) > 0)
    found: list[Row] = []
    cursor, expected = f"{start_batch}.{start_at}", start_batch
    async with engine.connect() as conn:
        async for index, outcomes_text, raw_text in await conn.stream(
            query.order_by(c.batch_index).execution_options(yield_per=20)
        ):
            if not finished and index != expected:
                return found, cursor
            expected = index + 1
            batch = list(zip(_outcomes(outcomes_text), json.loads(raw_text), strict=True))
            for position, (outcome, raw) in enumerate(batch):
                if (index, position) <= (start_batch, start_at):
                    continue
                cursor = f"{index}.{position}"
                if status is None or outcome.status == status:
                    found.append(Row(outcome, raw))
                    if len(found) == limit:
                        return found, cursor
    return found, None if finished else cursor


def _cursor(text: str | None) -> tuple[int, int]:
    if not text:
        return 0, -1  # before the first row of batch 0
    batch, _, position = text.partition(".")
    if not (batch.isdigit() and (position.isdigit() or position == "-1")):
        raise ValueError(f"invalid cursor {text!r}")
    return int(batch), int(position)


async def drop_raw(conn: AsyncConnection, run_id: uuid.UUID, *, records: bool) -> int:
    """Replace the stored source values of a run's rows by empty ones (`{}` for an API's records, `[]` for a
    file's cells), keeping outcomes and counts; returns how many rows lost their values."""
    c = import_batches.c
    size = c.created + c.updated + c.skipped + c.failed
    dropped = 0
    for (n,) in (await conn.execute(select(size).where(c.run_id == run_id).distinct())).all():
        empty = _to_json([{} if records else []] * n)
        done = await conn.execute(update(import_batches).where(c.run_id == run_id, size == n).values(raw=empty))
        dropped += n * done.rowcount
    return dropped
