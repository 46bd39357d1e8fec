"""The import pipeline: stream items → validate → batches of 50 → bulk-create → per-row results.

One producer reads and validates in source order (so "the first row with an org number wins" does not depend
on timing); several writers commit groups of batches on their own connections. Each batch's idempotency key is
derived from (run id, batch index) and committed with its rows and their bookkeeping, so a run that dies and is
resumed skips finished batches and never writes a row twice.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.csv_source import SourceError
from jobs import runs
from jobs.sources import Input, Item
from jobs.vat import VatChecker
from registry.bulk import MAX_ITEMS, Model, Rejected, bulk_create, duplicate_error, store, validate
from registry.fields import Kind
from registry.tables import import_rows

Progress = Callable[[runs.Counts], None]


@dataclass(frozen=True)
class Tuning:
    writers: int = 4  # connections writing in parallel (1 for SQLite: it has one writer anyway)
    batches_per_commit: int = 4
    lease_s: float = 30.0


@dataclass
class Batch:
    index: int
    items: list[tuple[Item, Model | Rejected | None]] = field(default_factory=list)


def batch_key(run_id: uuid.UUID, index: int) -> str:
    return f"run:{run_id}:batch:{index}"


class Validator:
    """Turns items into models or rejections, remembering org numbers so later duplicates in the file fail."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.first_line: dict[str, int] = {}

    def __call__(self, item: Item) -> Model | Rejected | None:
        if item.skip is not None:
            return None
        if item.error is not None:
            return Rejected(item.error)
        assert item.payload is not None
        model = validate(self.kind, item.payload)
        if isinstance(model, Rejected):
            return model
        org = model.org_number
        if org is not None:
            first = self.first_line.setdefault(org, item.row_number)
            if first != item.row_number:
                return Rejected(duplicate_error(self.kind, org, f"on line {first} of this file"))
        return model


async def batches(items: AsyncIterator[Item], validator: Validator) -> AsyncIterator[Batch]:
    batch = Batch(0)
    async for item in items:
        batch.items.append((item, validator(item)))
        if len(batch.items) == MAX_ITEMS:
            yield batch
            batch = Batch(batch.index + 1)
    if batch.items:
        yield batch


def row_record(run_id: uuid.UUID, batch: int, item: Item, result: dict[str, Any] | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": run_id,
        "row_number": item.row_number,
        "batch_index": batch,
        "raw": item.raw,
        "entity_id": item.entity_id,
        "error_code": None,
        "error_field": None,
        "error_message": None,
        "warnings": None,
    }
    if result is None:
        record.update(status="skipped", error_message=item.skip)
    elif result["ok"]:
        data = result["data"]
        record.update(status="created", entity_id=data.get("id"))
        if data.get("warnings"):
            record.update(_describe(data["warnings"]), warnings=data["warnings"])
    else:
        error = result["error"]
        fields = list(error.get("fields") or {})
        record.update(
            status="failed",
            error_code=error["code"],
            error_field=",".join(fields) or None,
            error_message=error["message"],
        )
    return record


def _describe(warnings: Sequence[dict[str, str]]) -> dict[str, str]:
    return {
        "error_code": ",".join(w["code"] for w in warnings),
        "error_field": ",".join(w["field"] for w in warnings),
        "error_message": "; ".join(w["message"] for w in warnings),
    }


class Importer:
    def __init__(
        self,
        engine: AsyncEngine,
        run: RowMapping,
        owner: str,
        tuning: Tuning,
        progress: Progress | None,
        vat: VatChecker | None,
    ) -> None:
        self.engine = engine
        self.run = run
        self.run_id: uuid.UUID = run["id"]
        self.owner = owner
        self.tuning = tuning
        self.progress = progress
        self.vat = vat
        self.counts = runs.Counts()

    async def execute(self, items: AsyncIterator[Item]) -> None:
        async with self.engine.connect() as conn:
            done = await runs.done_batches(conn, self.run_id)
            self.counts = await runs.row_counts(conn, self.run_id)
        writers = 1 if self.engine.dialect.name == "sqlite" else max(1, self.tuning.writers)
        queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=writers * self.tuning.batches_per_commit * 2)
        async with asyncio.TaskGroup() as group:
            heartbeat = group.create_task(self._heartbeat())
            tasks = [group.create_task(self._writer(queue)) for _ in range(writers)]
            async for batch in batches(items, Validator(self.run["kind"])):
                if batch.index not in done:
                    await queue.put(batch)
                await asyncio.sleep(0)  # reading and validating is CPU work: let the writers send
            for _ in tasks:
                await queue.put(None)
            await asyncio.gather(*tasks)
            if self.vat is not None:
                await self.vat.drain()
            heartbeat.cancel()

    async def _heartbeat(self) -> None:
        while True:
            # Often enough for `rostersync status` to look live; the lease itself lasts much longer.
            await asyncio.sleep(min(self.tuning.lease_s / 3, 2.0))
            await runs.heartbeat(self.engine, self.run_id, self.owner, self.tuning.lease_s, self.counts)

    async def _writer(self, queue: "asyncio.Queue[Batch | None]") -> None:
        while True:
            first = await queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.tuning.batches_per_commit and not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    await self._commit(group)
                    return
                group.append(more)
            await self._commit(group)

    async def _commit(self, group: list[Batch]) -> None:
        company_id, kind, dry_run = self.run["company_id"], self.run["kind"], self.run["dry_run"]
        records: list[dict[str, Any]] = []
        created: list[dict[str, Any]] = []
        async with self.engine.begin() as conn:
            for batch in group:
                sent = [(item, m) for item, m in batch.items if m is not None]
                response = await bulk_create(
                    conn,
                    company_id,
                    kind,
                    [m for _, m in sent],
                    idempotency_key=batch_key(self.run_id, batch.index),
                    dry_run=dry_run,
                )
                results = iter(response["results"])
                for item, model in batch.items:
                    result = next(results) if model is not None else None
                    records.append(row_record(self.run_id, batch.index, item, result))
                    if result is not None and result["ok"] and not dry_run and kind == "customers":
                        created.append(result["data"])
            await store(conn).append(conn, import_rows, records)
        for record in records:
            self.counts.add_row(record)
        if self.vat is not None and created:
            # EU customers' VAT numbers go to VIES now, in the background; their records are already durable.
            await self.vat.submit(company_id, created, runs.now())
        if self.progress is not None:
            self.progress(self.counts)


async def run_import(
    engine: AsyncEngine,
    run_id: uuid.UUID,
    open_input: "Callable[[RowMapping], Awaitable[Input]]",
    *,
    tuning: Tuning | None = None,
    progress: Progress | None = None,
    vat: VatChecker | None = None,
) -> RowMapping:
    """Process (or resume) a run to the end; returns the finished run.

    `open_input(run)` opens the run's input. A source error ends the run as failed with the reason; an unexpected
    error releases the lease and propagates, leaving the run resumable.
    """
    tuning = tuning or Tuning()
    owner = runs.lease_owner()
    run = await runs.acquire(engine, run_id, owner, tuning.lease_s)
    importer = Importer(engine, run, owner, tuning, progress, vat)
    try:
        await importer.execute((await open_input(run)).items())
    except (SourceError, BaseExceptionGroup) as exc:
        cause = _first_leaf(exc)
        if isinstance(cause, SourceError):
            return await runs.finish(engine, run_id, owner, error=str(cause))
        await asyncio.shield(runs.release(engine, run_id, owner))
        raise cause from exc
    except BaseException:
        await asyncio.shield(runs.release(engine, run_id, owner))
        raise
    return await runs.finish(engine, run_id, owner)


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
