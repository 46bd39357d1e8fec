"""The import pipeline: stream items → validate → batches of 50 → bulk-create → per-row results.

One producer reads and validates in source order (so "the first row with an org number wins" does not depend
on timing); several writers commit groups of batches on their own connections. Each batch's idempotency key is
derived from (run id, batch index) and committed with its rows and their bookkeeping, so a run that dies and is
resumed skips finished batches and never writes a row twice.
"""

import asyncio
import gc
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.csv_source import SourceError
from jobs.errors import DatabaseLost, DatabaseRefused, FamilyBusy, RunError
from jobs.ledger import run_rows, runs
from jobs.ledger.run_rows import BatchRows, Counts
from jobs.pipeline import lineage, reading
from jobs.pipeline.batches import Batch, FirstLines, row_outcomes, stream_batches
from jobs.pipeline.inputs import Input, Interrupted, LocalInput
from jobs.pipeline.matching import Matcher
from jobs.pipeline.prints import source_of
from jobs.pipeline.reconnect import Reconnecting, is_disconnect, reason, refusal
from jobs.pipeline.refs import Matched, Refs, noted
from jobs.pipeline.starting import open_input
from jobs.records import RunSummary
from jobs.vat import VatChecker
from registry.bulk import IdempotencyKeyReused, write
from registry.clock import now, utc
from registry.db import is_unique_violation

Progress = Callable[[Counts], None]


@dataclass(frozen=True)
class Tuning:
    writers: int = 2  # connections writing in parallel (1 for SQLite: it has one writer anyway)
    batches_per_commit: int = 16
    readers: int = 2  # processes reading and validating a file
    lease_s: float = 30.0
    db_retry_s: float = 30.0  # how long a lost database connection is retried before the run stops


def batch_key(run_id: uuid.UUID, index: int) -> str:
    return f"run:{run_id}:batch:{index}"


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
        self.db = Reconnecting(tuning.db_retry_s)
        self.counts = Counts()
        # Until a row meets an org number the registry has, write as if none existed (see bulk.write).
        self.seen_existing = False
        # A sync's records are matched by their refs first, then by the usual keys (its refs' own matcher).
        connection = run["options"].get("connection_id")
        self.refs = Refs(run["kind"], run["company_id"], connection, source_of(run)) if connection else None
        # Runs started before imports matched rows to records (no mode in their options) go on creating only.
        mode = run["options"].get("mode")
        self.matcher: Matcher | None = None
        if self.refs is not None:
            self.matcher = self.refs.matcher
        elif mode is not None:
            self.matcher = Matcher(run["kind"], run["company_id"], mode, source_of(run))

    async def execute(self, inp: Input) -> None:
        done, self.counts = await self.db(self._committed_so_far)
        if self.matcher is not None:
            # A sync's records are its refs' to tell apart, not lines of a file.
            if self.refs is not None:
                family = lineage.Owners({}, set())
            else:
                family = await self.db(lineage.owners, self.engine, self.run_id)
            self.matcher.start(family, done, utc(self.run["started_at"]))
        writers = 1 if self.engine.dialect.name == "sqlite" else max(1, self.tuning.writers)
        queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=writers * self.tuning.batches_per_commit * 2)
        async with asyncio.TaskGroup() as group:
            heartbeat = group.create_task(self._heartbeat())
            tasks = [group.create_task(self._writer(queue)) for _ in range(writers)]
            first_lines = FirstLines(self.run["kind"])
            interrupted: Interrupted | None = None
            # Closed on the way out, whatever the way: a reading child process must not outlive the run.
            async with aclosing(self._batches(inp)) as source:
                try:
                    async for batch in source:
                        first_lines(batch)  # done batches too: their org numbers came first
                        if batch.index not in done:
                            await queue.put(batch)
                        await asyncio.sleep(0)  # reading in-process is CPU work: let the writers send
                except Interrupted as exc:
                    interrupted = exc
            for _ in tasks:
                await queue.put(None)
            await asyncio.gather(*tasks)
            if self.vat is not None:
                await self.vat.drain()
            heartbeat.cancel()
            if interrupted is not None:
                raise interrupted

    async def _committed_so_far(self) -> tuple[set[int], Counts]:
        async with self.engine.connect() as conn:
            return await run_rows.done_batches(conn, self.run_id), await run_rows.counts(conn, self.run_id)

    def last_known(self) -> RunSummary:
        """The run as this process knows it without asking the database: running, with the counts of the
        batches it saw committed; stale, as it is once this process has stopped."""
        return RunSummary.of({**self.run, **self.counts.columns()}, stale=True)

    def _batches(self, inp: Input) -> AsyncGenerator[Batch, None]:
        kind = self.run["kind"]
        if isinstance(inp, LocalInput) and reading.available():
            return reading.read_in_children(inp, kind, self.run["company_id"], max(1, self.tuning.readers))
        return stream_batches(inp.items(), kind, self.run["company_id"])

    async def _heartbeat(self) -> None:
        while True:
            # Often enough for `rostersync status` to look live; the lease itself lasts much longer.
            await asyncio.sleep(min(self.tuning.lease_s / 3, 2.0))
            await self.db(runs.heartbeat, self.engine, self.run_id, self.owner, self.tuning.lease_s, self.counts)

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
        while group:
            try:
                written, created = await self.db(self._write, group)
            except Exception as exc:
                # A batch written meanwhile by a process that took the run over: its key refuses this one's
                # request when matching made the two differ, else its rows clash.
                if not (is_unique_violation(exc) or isinstance(exc, IdempotencyKeyReused)):
                    raise
                group = await self.db(self._unwritten, group, exc)
            else:
                return await self._committed(written, created)

    async def _unwritten(self, group: list[Batch], clash: Exception) -> list[Batch]:
        """The batches of `group` still to write, after one of them clashed with a batch the run has already.

        Two processes write one run only when one of them stalled past its lease and another took the run over
        (a resume, a retried job). The one that lost the lease stops here; the one that holds it goes on without
        the batches the other wrote (the same rows: their idempotency keys returned the other's results)."""
        async with self.engine.connect() as conn:
            holder = (await runs.get_run(conn, self.run_id))["lease_owner"]
            done = await run_rows.done_batches(conn, self.run_id)
        if holder != self.owner:
            raise RunError(
                f"run {self.run_id}: lost the lease to another process, which took the run over; this process "
                f"stopped (see rostersync status {self.run_id})"
            ) from None
        rest = [batch for batch in group if batch.index not in done]
        if len(rest) == len(group):
            raise clash  # not a batch written twice
        return rest

    async def _write(self, group: list[Batch]) -> tuple[Counts, list[dict[str, Any]]]:
        """One transaction: the group's rows, their idempotency keys and the run's record of them."""
        company_id, kind, dry_run = self.run["company_id"], self.run["kind"], self.run["dry_run"]
        stored: list[BatchRows] = []
        created: list[dict[str, Any]] = []
        matched: Matched | None = None
        moment = now()
        async with self.engine.begin() as conn:
            if self.matcher is not None:
                # Matching changes the requests: a copy of each, so a retried transaction starts from the
                # batches as they were read (what was matched and updated in a rolled-back one is undone).
                group = [replace(b, request=b.request.copy()) for b in group]
                if self.refs is not None:
                    matched = await self.refs.settle(conn, group, moment)
                    created = matched.rechecks
                else:
                    created = await self.matcher.settle(conn, group, moment, dry_run=dry_run)
            requests = [(batch_key(self.run_id, b.index), b.request) for b in group]
            # The group's batches are separate bulk-create requests (each its own key and response), sent together.
            results = await write(conn, company_id, kind, requests, dry_run=dry_run, optimistic=not self.seen_existing)
            if matched is not None:
                await matched.store(conn, group, results, moment)
            for batch, result in zip(group, results, strict=True):
                self.seen_existing = self.seen_existing or bool(result.duplicates)
                if result.as_planned and not batch.changed:
                    stored.append(batch.rows)
                else:
                    outcomes = row_outcomes(batch.entries, result)
                    if self.refs is not None:
                        outcomes = noted(batch.entries, outcomes)
                    stored.append(BatchRows.of(batch.index, outcomes, batch.rows.raw_json))
                if not dry_run:
                    created.extend(result.vat_pending())
            written = await run_rows.write(conn, self.run_id, stored)
        return written, created

    async def _committed(self, written: Counts, created: list[dict[str, Any]]) -> None:
        self.counts.add(written)
        if self.vat is not None and created:
            # EU customers' VAT numbers go to VIES now, in the background; their records are already durable.
            await self.vat.submit(self.run["company_id"], created, now())
        if self.progress is not None:
            self.progress(self.counts)


async def run_import(
    engine: AsyncEngine,
    run_id: uuid.UUID,
    *,
    opened: Input | None = None,
    tuning: Tuning | None = None,
    progress: Progress | None = None,
    vat: VatChecker | None = None,
    owner: str | None = None,
) -> RunSummary:
    """Process (or resume) a run to the end; returns the finished run.

    `opened`: the input the run was created from, already checked (else it is opened again from the run's
    options). A source error ends the run as failed with the reason; a cancel ends it as cancelled; an
    unexpected error releases the lease and propagates, leaving the run resumable. A lost database connection
    is retried for `tuning.db_retry_s` (`jobs.pipeline.reconnect`); past that, DatabaseLost says so, and the run
    is left to resume.
    """
    tuning = tuning or Tuning()
    owner = owner or runs.lease_owner()
    importer: Importer | None = None
    try:
        run = await Reconnecting(tuning.db_retry_s)(runs.acquire, engine, run_id, owner, tuning.lease_s)
        importer = Importer(engine, run, owner, tuning, progress, vat)
        return await _process(importer, opened)
    except Exception as exc:
        if not is_disconnect(exc):
            raise
        known = importer.last_known() if importer is not None else None
        raise DatabaseLost(run_id, reason(exc), tuning.db_retry_s, known) from exc


async def _process(importer: Importer, opened: Input | None) -> RunSummary:
    engine, run_id, owner, db = importer.engine, importer.run_id, importer.owner, importer.db
    try:
        inp = opened if opened is not None else await open_input(engine, importer.run)
    except FamilyBusy:
        await asyncio.shield(db(runs.requeue, engine, run_id, owner))
        raise
    except (SourceError, RunError) as exc:  # the file changed, another reimport of it runs: the run ends, saying so
        return await db(runs.finish, engine, run_id, owner, error=str(exc))
    except BaseException as exc:
        await _let_go(importer, exc)
        raise
    try:
        with _rare_collections():
            await importer.execute(inp)
    except (SourceError, BaseExceptionGroup) as exc:
        cause = _first_leaf(exc)
        if isinstance(cause, SourceError):
            return await db(runs.finish, engine, run_id, owner, error=str(cause))
        if isinstance(cause, runs.Cancelled):
            return await db(runs.finish, engine, run_id, owner, error="cancelled", status="cancelled")
        await _let_go(importer, cause)
        raise _refused(run_id, cause) or cause from exc
    except BaseException as exc:
        await _let_go(importer, exc)
        if refused := _refused(run_id, exc):
            raise refused from exc
        raise
    return await db(runs.finish, engine, run_id, owner)


def _refused(run_id: uuid.UUID, exc: BaseException) -> DatabaseRefused | None:
    """A refusal by the database, as the one line a person can act on."""
    said = refusal(exc)
    return None if said is None else DatabaseRefused(run_id, said)


async def _let_go(importer: Importer, exc: BaseException) -> None:
    """Release the lease after an unexpected error, so another process can resume at once. Not after losing
    the database: the retries are spent, and the lease running out releases it."""
    if not is_disconnect(exc):
        await asyncio.shield(importer.db(runs.release, importer.engine, importer.run_id, importer.owner))


@contextmanager
def _rare_collections() -> Iterator[None]:
    """At the default thresholds the cycle collector runs far too often for the short-lived containers every row
    makes, nearly none of them in cycles."""
    thresholds = gc.get_threshold()
    gc.set_threshold(10_000, 50, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
