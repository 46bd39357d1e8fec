"""The application layer: everything a face (the CLI, the arq worker, the HTTP API) can do, as typed calls.

A face parses, authorises and formats; the work is one of these calls. Each takes the process's `Context`
(database engine, clients). Where a `company_id` is given, a run or connection of another company is not
found.
"""

import csv
import io
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any, TextIO

from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import SQLAlchemyError

from connectors.csv_source import DELIMITERS
from connectors.headers import build_mapping
from jobs import companies, keys, queue, sessions, uploads
from jobs.context import Context as Context  # re-exported: a face needs only this module
from jobs.context import database_failure
from jobs.errors import DatabaseLost, FamilyBusy, RunError
from jobs.ledger import report, run_rows, runs
from jobs.pipeline import importer, preview, starting
from jobs.pipeline.inputs import Input
from jobs.queue import IMPORT_JOB as IMPORT_JOB  # re-exported: the worker registers its jobs by these names
from jobs.queue import SYNC_JOB as SYNC_JOB
from jobs.records import (
    AWAITING_MAPPING,
    FINISHED,
    ApiKey,
    CompanySettings,
    Connection,
    FamilyCounts,
    ImportRequest,
    Kind,
    MappingPreview,
    NewApiKey,
    NewConnection,
    PartyPage,
    PartyQuery,
    PurgeSummary,
    RecheckSummary,
    ReimportRequest,
    RowsPage,
    RunRow,
    RunSummary,
    SyncSummary,
    WebSession,
)
from jobs.sync import connections
from jobs.sync.connections import parse_every as parse_every
from jobs.vat import VatChecker, pending_count
from registry.clock import now
from registry.db import is_current, upgrade
from registry.fields import CUSTOMER_TYPES, HINT_FIELDS, SUPPLIER_TYPES, payload_fields
from registry.plan import Result

Progress = Callable[[int], None]  # told how many rows are processed so far
REPORT_DELIMITERS = DELIMITERS  # a report's: the ones the reader detects, so that it reimports as it is


@dataclass(frozen=True)
class Started:
    """A run that exists (queued) and, for a fresh import, the input already checked, so running it here does
    not read the file's structure twice."""

    run: RunSummary
    opened: Input | None = None


async def upgrade_schema(ctx: Context) -> None:
    """Apply the database migrations (the operator's step for a shared Postgres)."""
    await upgrade(ctx.engine, schema=ctx.settings.database_schema)


# Companies


async def company_settings(ctx: Context, company_id: str) -> CompanySettings:
    return await companies.get(ctx.engine, company_id)


async def set_default_country(ctx: Context, company_id: str, country: str | None) -> CompanySettings:
    """The country a CSV import gives rows that name none (a `--set country=…` of the import wins)."""
    return await companies.set_default_country(ctx.engine, company_id, country)


def fields_of(kind: Kind) -> tuple[str, ...]:
    """What a column of a file of `kind` can be mapped to."""
    return (*payload_fields(kind), *HINT_FIELDS)


def types_of(kind: Kind) -> tuple[str, ...]:
    """The values of a customer's or supplier's type (a field a file may lack, given one value for every row)."""
    return CUSTOMER_TYPES if kind == "customers" else SUPPLIER_TYPES


async def preview_mapping(ctx: Context | None, request: ImportRequest) -> MappingPreview:
    """What an import of the file would map (and whether it would stop), writing nothing; without a context
    (no database yet) nothing is remembered to use."""
    return await preview.preview(ctx.engine if ctx is not None else None, request)


# Runs: imports and reimports


async def start_import(ctx: Context, request: ImportRequest) -> Started:
    """Check the file (readable, its columns, the mapping) and create a queued run; nothing is written when the
    file is refused."""
    run_id, opened = await starting.start_import(ctx.engine, request)
    return Started(await runs.current_run(ctx.engine, run_id), opened)


async def import_upload(
    ctx: Context, request: ImportRequest, blocks: AsyncIterator[bytes], *, awaiting_mapping: bool = False
) -> Started:
    """Store an uploaded file (`request.path`: its name) in the database and start its import, as
    `start_import`; a file refused, or over the upload limit, is not kept. `awaiting_mapping`: the run waits
    for `confirm_mapping` (its proposed mapping: `mapping_of`)."""
    upload_id = await uploads.store(
        ctx.engine, request.company_id, request.path, blocks, ctx.settings.upload_limit_bytes
    )
    try:
        run_id, opened = await starting.start_import(
            ctx.engine, replace(request, upload_id=upload_id), awaiting_mapping=awaiting_mapping
        )
    except BaseException:
        await uploads.discard(ctx.engine, upload_id)
        raise
    return Started(await runs.current_run(ctx.engine, run_id), None if awaiting_mapping else opened)


def _awaiting(run: RowMapping, company_id: str) -> ImportRequest:
    if run["status"] != AWAITING_MAPPING:
        raise RunError(f"run {run['id']} is not awaiting its mapping ({run['status']})")
    options = run["options"]
    return ImportRequest(
        path=run["source_name"], company_id=company_id, kind=run["kind"], source=run["source"],
        encoding=options.get("encoding"), delimiter=options.get("delimiter"), dry_run=run["dry_run"],
        defaults=options.get("defaults"), mode=options["mode"], upload_id=options["upload"],
        mapping=options.get("given_mapping"), sheet=options.get("sheet"), header_row=options.get("header_row"),
    )  # fmt: skip


def _as_chosen(
    proposed: ImportRequest,
    mapping: Mapping[str, str | None] | None,
    defaults: Mapping[str, str] | None,
    allow_unmapped: bool,
) -> ImportRequest:
    """The proposal as a person changed it: their mapping (None: the proposed one) and values for every row."""
    return replace(
        proposed,
        mapping=mapping if mapping is not None else proposed.mapping,
        defaults={**(proposed.defaults or {}), **(defaults or {})},
        allow_unmapped=allow_unmapped,
    )


async def preview_import(
    ctx: Context,
    run_id: str,
    company_id: str,
    mapping: Mapping[str, str | None] | None,
    *,
    defaults: Mapping[str, str] | None = None,
    allow_unmapped: bool = False,
) -> Started:
    """A dry run of the upload of a run awaiting its mapping, under the mapping a person is about to confirm:
    every row's outcome and the whole file's counts, nothing written, nothing remembered; the awaiting run
    waits on. Started like any run (`process`, `enqueue`)."""
    proposed = _awaiting(await runs.get_run(ctx.engine, run_id, company_id), company_id)
    request = replace(_as_chosen(proposed, mapping, defaults, allow_unmapped), dry_run=True)
    dry_run_id, opened = await starting.start_import(ctx.engine, request)
    return Started(await runs.current_run(ctx.engine, dry_run_id), opened)


async def mapping_of(ctx: Context, run_id: str, company_id: str) -> MappingPreview:
    """The mapping a run awaiting its confirmation proposes: each column, how it maps, samples, what would stop."""
    return await preview.preview(ctx.engine, _awaiting(await runs.get_run(ctx.engine, run_id, company_id), company_id))


async def confirm_mapping(
    ctx: Context,
    run_id: str,
    company_id: str,
    mapping: Mapping[str, str | None] | None,
    *,
    defaults: Mapping[str, str] | None = None,
    allow_unmapped: bool = False,
) -> Started:
    """Queue a run that awaited its mapping, with `mapping` (None: as proposed) and `defaults` for the fields
    the file lacks; refused (the run waits on) when the file would still stop the import."""
    run = await runs.get_run(ctx.engine, run_id, company_id)
    request = _as_chosen(_awaiting(run, company_id), mapping, defaults, allow_unmapped)
    confirmed, opened = await starting.start_import(ctx.engine, request, run_id=run["id"])
    return Started(await runs.current_run(ctx.engine, confirmed), opened)


async def reimport_upload(
    ctx: Context, request: ReimportRequest, blocks: AsyncIterator[bytes], company_id: str
) -> Started:
    """`start_reimport` from a corrected file uploaded (`request.path`: its name)."""
    upload_id = await uploads.store(ctx.engine, company_id, request.path or "upload", blocks,
                                    ctx.settings.upload_limit_bytes)  # fmt: skip
    try:
        return await start_reimport(ctx, replace(request, upload_id=upload_id), company_id)
    except BaseException:
        await uploads.discard(ctx.engine, upload_id)
        raise


async def retry_rows(ctx: Context, run_id: str, company_id: str, edits: Mapping[int, Sequence[str]]) -> Started:
    """Reimport just these failed rows of a run with the values a person corrected (row number -> the row's
    values in the order of the file's columns): a corrected file of those rows, reimported failed-only, so a row
    the family made is never made again. A row that did not fail, or with another number of values, is refused."""
    run = await runs.current_run(ctx.engine, run_id, company_id)
    wanted, failed, cursor = set(edits), set(), None
    while True:
        page = await run_rows_page(ctx, run.run_id, company_id=company_id, status="failed", cursor=cursor, limit=500)
        failed |= {r.row_number for r in page.rows} & wanted
        if failed == wanted or (cursor := page.next_cursor) is None:
            break
    if missing := sorted(wanted - failed):
        raise RunError(f"row {missing[0]} of run {run.run_id} did not fail: only failed rows are retried")
    headers = page.headers or []
    if any(len(values) != len(headers) for values in edits.values()):
        raise RunError(f"a retried row needs a value for each of the file's {len(headers)} columns")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row_number", *headers])
    writer.writerows([number, *edits[number]] for number in sorted(edits))

    async def blocks() -> AsyncIterator[bytes]:
        yield out.getvalue().encode()

    wanted_run = ReimportRequest(parent_run_id=run.run_id, failed_only=True, path=f"retry-{run.run_id[:8]}.csv")
    return await reimport_upload(ctx, wanted_run, blocks(), company_id)


async def start_reimport(ctx: Context, request: ReimportRequest, company_id: str | None = None) -> Started:
    """A new run of a finished run's rows (all, or the failed ones), from a corrected file or with a new mapping."""
    parent = await runs.current_run(ctx.engine, request.parent_run_id, company_id)
    if parent.source.startswith("sync:"):
        raise RunError(f"run {parent.run_id} is a sync run: it is reimported from the records it stored")
    run_id = await starting.start_reimport(
        ctx.engine,
        parent.run_id,
        failed_only=request.failed_only,
        path=request.path,
        mapping_path=request.mapping_path,
        defaults=request.defaults,
        allow_unmapped=request.allow_unmapped,
        upload_id=request.upload_id,
        mapping=request.mapping,
        sheet=request.sheet,
        header_row=request.header_row,
    )
    return Started(await runs.current_run(ctx.engine, run_id))


async def process(ctx: Context, started: Started, *, progress: Progress | None = None) -> RunSummary:
    """Run a queued run to its end in this process."""
    return await _run(ctx, started.run, opened=started.opened, progress=progress)


async def resume(
    ctx: Context, run_id: str, *, company_id: str | None = None, progress: Progress | None = None
) -> RunSummary:
    """Continue a run whose process died, at its first unfinished batch (nothing is written twice). A run that
    has finished is returned as it is, so resuming again (a retrying script, a retried job) is harmless."""
    run = await runs.current_run(ctx.engine, run_id, company_id)
    if run.finished:
        return run
    return await _run(ctx, run, progress=progress)


async def _run(
    ctx: Context, known: RunSummary, *, opened: Input | None = None, progress: Progress | None = None
) -> RunSummary:
    """Process a run; `known`: the run as the caller last read it."""
    run_id = known.id
    try:
        return await importer.run_import(
            ctx.engine,
            run_id,
            opened=opened,
            tuning=ctx.settings.tuning(),
            progress=None if progress is None else (lambda counts: progress(counts.processed)),
            vat=ctx.vat_checker(),
            owner=runs.lease_owner(ctx.worker),
        )
    except FamilyBusy as exc:
        if ctx.worker:
            raise  # the queue tries again later
        await runs.abandon(ctx.engine, run_id, str(exc))  # a person waiting for it is told now
        return await runs.current_run(ctx.engine, run_id)
    except DatabaseLost as exc:
        exc.run = exc.run or known  # lost before the run was taken: it is as the caller read it
        raise


async def readiness(ctx: Context) -> dict[str, str]:
    """What a process needs to serve: "ok" for each of the database (schema current) and the queue (when one
    is configured), or why not."""
    checks: dict[str, str] = {}
    try:
        current = await is_current(ctx.engine)
        checks["database"] = "ok" if current else "the schema is not current: run `rostersync db upgrade`"
    except (OSError, SQLAlchemyError) as exc:
        checks["database"] = f"unreachable ({database_failure(exc)})"
    if ctx.settings.redis_url is not None:
        try:
            await queue.reachable(ctx.settings)
            checks["redis"] = "ok"
        except RunError as exc:
            checks["redis"] = str(exc)
    return checks


async def check_queue(ctx: Context) -> None:
    """Raise a one-line RunError unless the worker's Redis answers (before a run is created for it)."""
    await queue.reachable(ctx.settings)


async def enqueue(ctx: Context, run: RunSummary) -> RunSummary:
    """Hand a queued run to `rostersync worker` (one job per run, however often it is asked). A run that
    cannot be queued is closed as failed, with the reason: nothing is left waiting for a job that never comes."""
    try:
        await queue.enqueue(ctx.settings, queue.IMPORT_JOB, run.run_id, job_id=queue.import_job_id(run.run_id))
    except RunError as exc:
        await runs.abandon(ctx.engine, run.id, f"could not be queued: {exc}")
        raise
    return await runs.current_run(ctx.engine, run.run_id)


async def cancel(ctx: Context, run_id: str, company_id: str | None = None) -> RunSummary:
    """Stop a run: a queued one never starts, a running one stops after the batches it is writing."""
    return await runs.cancel(ctx.engine, run_id, company_id)


async def family_counts(ctx: Context, run_id: str, company_id: str | None = None) -> FamilyCounts:
    """Where the file of a run stands after its first run and all its reimports."""
    run = await runs.get_run(ctx.engine, run_id, company_id)
    return await runs.family_counts(ctx.engine, run["id"])


async def get_run(ctx: Context, run_id: str, company_id: str | None = None) -> RunSummary:
    """A run by id or unique prefix, with live counts while it runs."""
    return await runs.current_run(ctx.engine, run_id, company_id)


async def list_runs(
    ctx: Context,
    company_id: str | None = None,
    limit: int = 50,
    after: str | None = None,
    connection_id: str | None = None,
    *,
    status: str | None = None,
    kind: str | None = None,
    source: str | None = None,
) -> list[RunSummary]:
    """The newest runs first (of one connection's syncs; of a status, kind, source: csv, reimport, sync…);
    `after`: the id of the last run of the page before."""
    source_name = None
    if connection_id is not None:
        source_name = f"connection {(await connections.get(ctx.engine, connection_id, company_id))['id']}"
    return await runs.list_runs(ctx.engine, company_id, limit, after, source_name, status=status, kind=kind,
                                source=source)  # fmt: skip


async def run_rows_page(
    ctx: Context,
    run_id: str,
    *,
    company_id: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> RowsPage:
    """A page of a run's rows (of one status: created, updated, skipped or failed), in source order."""
    run = await runs.get_run(ctx.engine, run_id, company_id)
    try:
        found, next_cursor = await run_rows.page(
            ctx.engine, run["id"], status=status, after=cursor, limit=limit, finished=run["status"] in FINISHED
        )
    except ValueError as exc:
        raise RunError(str(exc)) from None
    rows = [RunRow(*outcome, source=raw) for outcome, raw in found]
    return RowsPage(rows, next_cursor, run["headers"], _fields(run))


def _fields(run: RowMapping) -> list[str | None] | None:
    """The field each of a run's columns maps to, so that a row's failed field is found among its values."""
    headers = run["headers"]
    if not headers or run["options"].get("format") == "json":
        return None
    try:
        mapped = build_mapping(headers, run["kind"], run["options"].get("mapping"))
    except ValueError:  # a mapping refused when the run started: the run holds no rows to place
        return None
    return [mapped.fields.get(i) for i in range(len(headers))]


async def purge_runs(ctx: Context, older_than: str, company_id: str | None = None) -> PurgeSummary:
    """Drop the stored source values (personnummer included) of runs that finished longer than `older_than`
    ago ('90d', '12h'); counts and outcomes stay. Such a run reports outcomes only and is reimported from a
    corrected file."""
    try:
        age = runs.parse_age(older_than)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    purged_runs, purged_rows = await runs.purge(ctx.engine, age, company_id)
    return PurgeSummary(purged_runs, purged_rows, int(age.total_seconds()))


async def write_report(
    ctx: Context,
    run_id: str,
    out: TextIO,
    *,
    failed_only: bool = False,
    delimiter: str | None = None,
    company_id: str | None = None,
) -> int:
    """The per-row CSV report to `out`; returns how many rows it holds. `delimiter`: one of `REPORT_DELIMITERS`;
    by default `;` when the run's file used it, else `,`."""
    run = await runs.get_run(ctx.engine, run_id, company_id)
    if delimiter is None:
        # A file written with ';' comes from a spreadsheet that splits on ';' (Nordic and German ones do):
        # its report opens there in columns too.
        delimiter = ";" if await runs.source_delimiter(ctx.engine, run) == ";" else ","
    return await report.write_report(ctx.engine, run, out, failed_only=failed_only, delimiter=delimiter)


async def write_workbook_report(
    ctx: Context, run_id: str, out: IO[bytes], *, failed_only: bool = False, company_id: str | None = None
) -> int:
    """The per-row report as an .xlsx workbook to `out`, the failed cells marked; returns how many rows it holds."""
    run = await runs.get_run(ctx.engine, run_id, company_id)
    from jobs.ledger import report_workbook  # openpyxl: only for the calls that write a workbook

    return await report_workbook.write_workbook_report(ctx.engine, run, out, failed_only=failed_only)


# Connections and syncs


async def add_connection(ctx: Context, new: NewConnection) -> Connection:
    """Connect a CRM; a credential reference or base URL that the settings do not allow is refused (RunError)."""
    connection_id = await connections.add(ctx.engine, new, ctx.settings)
    return Connection.of(await connections.get(ctx.engine, connection_id))


async def get_connection(ctx: Context, connection_id: str, company_id: str | None = None) -> Connection:
    return Connection.of(await connections.get(ctx.engine, connection_id, company_id))


async def list_connections(ctx: Context, company_id: str | None = None) -> list[Connection]:
    return [Connection.of(row) for row in await connections.list_all(ctx.engine, company_id)]


async def remove_connection(ctx: Context, connection_id: str, company_id: str | None = None) -> None:
    """Disconnect; the registry's records stay, their links to the system go."""
    await connections.remove(ctx.engine, connection_id, company_id)


async def sync(ctx: Context, connection_id: str, *, full: bool = False, company_id: str | None = None) -> SyncSummary:
    """Sync one connection now, in this process (raises `SyncBusy` while another process syncs it)."""
    from jobs.sync import crm  # the CRM clients: only for the calls that reach a CRM

    if ctx.http is None:
        raise RuntimeError("a sync needs the context's HTTP client (open_context(..., http=True))")
    row = await connections.get(ctx.engine, connection_id, company_id)
    owner = runs.lease_owner(ctx.worker)
    return await crm.sync(
        ctx.engine,
        row["id"],
        http=ctx.http,
        vat=ctx.vat_checker(),
        full=full,
        lease_s=ctx.settings.sync_lease_s,
        owner=owner,
        settings=ctx.settings,
    )


async def redispatch_orphans(ctx: Context) -> int:
    """Queue again the runs and syncs whose queue worker died (their lease ran out); returns how many. Each
    takes a job id made from the moment its lease ran out, so however many workers look, one job goes out."""
    jobs: list[tuple[str, Sequence[Any], str]] = []
    for run_id, expired in await runs.orphaned_by_workers(ctx.engine):
        jobs.append((IMPORT_JOB, [str(run_id)], queue.import_job_id(run_id, attempt=int(expired.timestamp()))))
    for connection_id, expired in await connections.orphaned_by_workers(ctx.engine):
        job_id = queue.sync_job_id(connection_id, attempt=int(expired.timestamp()))
        jobs.append((SYNC_JOB, [str(connection_id), False], job_id))
    return await queue.enqueue_many(ctx.settings, jobs) if jobs else 0


async def enqueue_due_syncs(ctx: Context) -> int:
    """Queue a sync of every connection whose next sync is due (one job per connection, however many workers
    tick); returns how many were queued now."""
    due = await connections.due(ctx.engine)
    jobs = [(SYNC_JOB, [str(connection_id)], queue.sync_job_id(connection_id)) for connection_id in due]
    return await queue.enqueue_many(ctx.settings, jobs) if jobs else 0


async def enqueue_sync(
    ctx: Context, connection_id: str, *, full: bool = False, company_id: str | None = None
) -> SyncSummary:
    """Hand a sync to `rostersync worker`; one at a time per connection."""
    row = await connections.get(ctx.engine, connection_id, company_id)
    job_id = queue.sync_job_id(row["id"])
    queued = await queue.enqueue(ctx.settings, queue.SYNC_JOB, str(row["id"]), full, job_id=job_id)
    return SyncSummary(str(row["id"]), "queued" if queued else "already queued")


async def reimport_sync(
    ctx: Context, run_id: str, *, failed_only: bool = False, company_id: str | None = None
) -> RunSummary:
    """A sync run's stored records through the sync again (no request to the CRM)."""
    from jobs.sync import crm

    run = await runs.current_run(ctx.engine, run_id, company_id)
    if not run.source.startswith("sync:"):
        raise RunError(f"run {run.run_id} is not a sync run: reimport it with its file or stored rows")
    if run.purged_at:
        raise RunError(f"run {run.run_id}'s stored records were purged on {run.purged_at[:10]}: sync again instead")
    return await crm.reimport(ctx.engine, run.run_id, failed_only=failed_only)


# The registry and its VAT checks


async def list_parties(ctx: Context, query: PartyQuery) -> PartyPage:
    from jobs.parties import list_parties

    return await list_parties(ctx.engine, query)


async def get_party(ctx: Context, kind: Kind, company_id: str, entity_id: str) -> dict[str, Any]:
    from jobs.parties import get_party

    return await get_party(ctx.engine, kind, company_id, entity_id)


async def create_parties(
    ctx: Context,
    kind: Kind,
    company_id: str,
    items: Sequence[Mapping[str, Any]],
    *,
    idempotency_key: str,
    dry_run: bool = False,
    all_or_nothing: bool = False,
) -> tuple[Result, VatChecker]:
    """A bulk-create request of the registry API (≤ 50 items, partial success), committed; the new customers'
    VAT numbers are handed to the returned checker, whose `drain()` the caller awaits when it can (after
    answering, for the HTTP API)."""
    from jobs.parties import create_parties

    result = await create_parties(
        ctx.engine, kind, company_id, items, idempotency_key=idempotency_key, dry_run=dry_run,
        all_or_nothing=all_or_nothing,
    )  # fmt: skip
    checker = ctx.vat_checker()
    if not dry_run and not result.replayed:
        await checker.submit(company_id, result.vat_pending(), now())
    return result, checker


async def patch_party(
    ctx: Context,
    kind: Kind,
    company_id: str,
    entity_id: str,
    given: Mapping[str, Any],
    *,
    idempotency_key: str,
    dry_run: bool = False,
) -> tuple[dict[str, Any], VatChecker]:
    """PATCH a customer or supplier (`jobs.parties.patch_party`); a changed VAT number goes to the returned
    checker, whose `drain()` the caller awaits when it can."""
    from jobs.parties import patch_party

    record, rechecks = await patch_party(
        ctx.engine, kind, company_id, entity_id, given, idempotency_key=idempotency_key, dry_run=dry_run
    )
    checker = ctx.vat_checker()
    await checker.submit(company_id, rechecks, now())
    return record, checker


async def archive_party(ctx: Context, kind: Kind, company_id: str, entity_id: str, *, dry_run: bool = False) -> None:
    from jobs.parties import archive_party

    await archive_party(ctx.engine, kind, company_id, entity_id, dry_run=dry_run)


# API keys


async def create_key(ctx: Context, company_id: str, scopes: str, name: str | None = None) -> NewApiKey:
    """A new key for the company with the comma-separated scopes; the key itself is in the result, once."""
    return await keys.create(ctx.engine, company_id, keys.parse_scopes(scopes), name)


async def list_keys(ctx: Context, company_id: str) -> list[ApiKey]:
    return await keys.list_keys(ctx.engine, company_id)


async def revoke_key(ctx: Context, company_id: str, key_id: str) -> ApiKey:
    return await keys.revoke(ctx.engine, company_id, key_id)


async def authenticate(ctx: Context, key: str) -> ApiKey | None:
    return await keys.authenticate(ctx.engine, key)


# Sessions of the web importer


async def open_session(ctx: Context, key: str) -> tuple[str, WebSession] | None:
    """Sign a browser in with an API key: the session id its cookie holds (never the key) and the session; None
    for a key that is not valid."""
    return await sessions.open_session(ctx.engine, key)


async def find_session(ctx: Context, session_id: str) -> WebSession | None:
    return await sessions.find(ctx.engine, session_id)


async def close_session(ctx: Context, session_id: str) -> None:
    await sessions.close(ctx.engine, session_id)


async def recheck_vat(ctx: Context, company_id: str | None = None, *, all_pending: bool = False) -> RecheckSummary:
    """Ask VIES again for the numbers whose next attempt is due (all pending ones with `all_pending`)."""
    outcomes = await ctx.vat_checker().recheck_due(company_id=company_id, all_pending=all_pending)
    return RecheckSummary(
        checked=sum(outcomes.values()),
        valid=outcomes.get("valid", 0),
        invalid=outcomes.get("invalid", 0),
        pending=outcomes.get("pending", 0),
        unavailable=outcomes.get("unavailable", 0),
        still_pending=await pending_count(ctx.engine, company_id),
    )
