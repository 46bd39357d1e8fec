"""The operator CLI `rostersync` (DESIGN.md: exit 0 all rows ok, 1 finished with failed rows, 2 nothing done)."""

import asyncio
import logging
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.csv_source import SourceError
from jobs.context import NotMigrated, engine_from, ready_engine, vat_checker
from jobs.ledger import runs
from jobs.ledger.report import write_report
from jobs.pipeline import starting
from jobs.pipeline.inputs import Input
from jobs.settings import Settings
from registry.db import upgrade
from worker import console
from worker.console import fail, print_json, print_run

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Import and sync customers and suppliers.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")

T = TypeVar("T")


class KindOption(StrEnum):
    customers = "customers"
    suppliers = "suppliers"


class SourceOption(StrEnum):
    auto = "auto"
    csv = "csv"
    faktoora = "faktoora"
    economic = "economic"
    visma = "visma"
    visma_eaccounting = "visma-eaccounting"


Company = Annotated[str, typer.Option("--company", callback=console.company_id, help="Tenant id.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        fail(f"invalid configuration: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")


def run_async(work: Callable[[AsyncEngine], Awaitable[T]], *, migrate: bool = True) -> T:
    """Open the engine, run `work`, close it; turn every expected failure into one line and exit code 2."""

    async def main() -> T:
        config = settings()
        engine = await ready_engine(config) if migrate else engine_from(config)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except BrokenPipeError:
        raise  # not the database: whoever read our output stopped reading; click ends quietly
    except (SourceError, runs.RunError, NotMigrated) as exc:
        fail(str(exc))
    except (OperationalError, DBAPIError, OSError) as exc:
        # The driver's message can contain the URL; say what failed without it.
        fail(f"cannot use the database: {type(getattr(exc, 'orig', exc)).__name__}")


def finish(summary: dict[str, Any], as_json: bool) -> NoReturn:
    """Print a finished run and end the process with its exit code.

    The interpreter's own shutdown (tearing down every library's objects) took a fifth of a second after an
    import, longer than the commit of its last batches. By now the run is in the database, its engine is
    closed and its reading processes have ended: what is left to do is to flush what was printed."""
    if as_json:
        print_json(summary)
    else:
        print_run(summary)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(console.exit_code(summary))


async def enqueue(run_id: uuid.UUID) -> None:
    from arq import create_pool
    from arq.connections import RedisSettings

    from worker.arq_worker import import_job_id

    config = settings()
    if config.redis_url is None:
        raise runs.RunError("--queue needs ROSTERSYNC_REDIS_URL (the worker's Redis)")
    redis = await create_pool(
        RedisSettings.from_dsn(config.redis_url.get_secret_value()), default_queue_name=config.queue_name
    )
    try:
        await redis.enqueue_job("import_run", str(run_id), _job_id=import_job_id(run_id))
    finally:
        await redis.aclose()


async def run_or_queue(
    engine: AsyncEngine, run_id: uuid.UUID, opened: Input, *, queue: bool, show_progress: bool, reopen: bool = False
) -> dict[str, Any]:
    """Queue the run, or run it here. `reopen`: open the input again once the run is leased (a reimport must
    see what its family did up to that moment, not when it was created)."""
    if queue:
        await enqueue(run_id)
        return runs.summary(await runs.get_run(engine, run_id))
    config = settings()
    with console.progress_bar(opened.total, show_progress) as progress:
        async with vat_checker(config, engine) as vat:
            run = await starting.execute(
                engine, run_id, tuning=config.tuning(), progress=progress, vat=vat, opened=None if reopen else opened
            )
    return runs.summary(run)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV export, or a saved JSON page of a connected system.")],
    company: Company,
    kind: Annotated[KindOption, typer.Option("--kind")],
    source: Annotated[SourceOption, typer.Option("--source")] = SourceOption.auto,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="JSON {header: field|null}.")] = None,
    encoding: Annotated[str | None, typer.Option("--encoding")] = None,
    delimiter: Annotated[str | None, typer.Option("--delimiter")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; write nothing.")] = False,
    queue: Annotated[bool, typer.Option("--queue", help="Hand the run to `rostersync worker`.")] = False,
    as_json: Json = False,
) -> None:
    """Import customers or suppliers from a file."""
    if delimiter is not None:
        delimiter = "\t" if delimiter in ("\\t", "tab", "TAB") else delimiter
        if len(delimiter) != 1:
            fail(f"--delimiter must be one character, got {delimiter!r}")
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            fail(f"unknown --encoding {encoding!r}")

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        run_id, opened = await starting.start_import(
            engine,
            str(file),
            company_id=company,
            kind=kind.value,
            source=source.value,
            mapping_path=str(mapping) if mapping else None,
            encoding=encoding,
            delimiter=delimiter,
            dry_run=dry_run,
        )
        return await run_or_queue(engine, run_id, opened, queue=queue, show_progress=not as_json)

    finish(run_async(work), as_json)


@app.command()
def reimport(
    run_id: Annotated[str, typer.Argument(help="The run whose rows to import again.")],
    failed_only: Annotated[bool, typer.Option("--failed-only", help="Only the rows that failed.")] = False,
    file: Annotated[Path | None, typer.Option("--file", help="A corrected file (the edited report works).")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping")] = None,
    queue: Annotated[bool, typer.Option("--queue")] = False,
    as_json: Json = False,
) -> None:
    """Import a run's rows again as a new run linked to it; rows it already created are never created twice."""

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        parent = await runs.get_run(engine, run_id)
        if parent["source"].startswith("sync:"):
            if file is not None or mapping is not None or queue:
                raise runs.RunError(
                    "a sync run is reimported from the records it stored: no --file, --mapping or --queue"
                )
            from jobs.sync.crm import reimport as reimport_sync  # the CRM connectors, only when a sync run needs them

            return runs.summary(await reimport_sync(engine, run_id, failed_only=failed_only))
        new_id, opened = await starting.start_reimport(
            engine,
            run_id,
            failed_only=failed_only,
            path=str(file) if file else None,
            mapping_path=str(mapping) if mapping else None,
        )
        return await run_or_queue(engine, new_id, opened, queue=queue, show_progress=not as_json, reopen=True)

    finish(run_async(work), as_json)


@app.command()
def resume(run_id: str, as_json: Json = False) -> None:
    """Continue a run whose process died, at its first unfinished batch."""

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        config = settings()
        async with vat_checker(config, engine) as vat:
            run = await starting.execute(engine, runs.parse_run_id(run_id), tuning=config.tuning(), vat=vat)
        return runs.summary(run)

    finish(run_async(work), as_json)


@app.command()
def status(run_id: str, as_json: Json = False) -> None:
    """Show a run's status and counts (live while it runs)."""
    summary = runs.summary(run_async(lambda engine: runs.current_run(engine, run_id)))
    if as_json:
        print_json(summary)
        return
    print_run(summary)
    if summary["status"] in ("queued", "running"):
        console.out.print(f"progress: {summary['processed']} of {summary['total']} rows", markup=False)


@app.command("runs")
def list_runs(
    company: Annotated[str | None, typer.Option("--company", callback=console.company_id)] = None,
    as_json: Json = False,
) -> None:
    """List recent runs, newest first."""
    found = [runs.summary(r) for r in run_async(lambda engine: runs.list_runs(engine, company))]
    if as_json:
        print_json(found)
        return
    from rich.table import Table

    table = Table("run", "company", "kind", "source", "status", "created", "failed", "total", "started")
    for r in found:
        table.add_row(
            r["run_id"], r["company_id"], r["kind"], r["source"], r["status"] + (" (dry run)" if r["dry_run"] else ""),
            str(r["created"]), str(r["failed"]), str(r["total"]), r["created_at"] or "",
        )  # fmt: skip
    console.out.print(table)


@app.command()
def report(
    run_id: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")] = None,
    failed_only: Annotated[bool, typer.Option("--failed-only")] = False,
) -> None:
    """Per-row report as CSV: row_number,status,error_code,error_field,error_message,entity_id + source columns."""

    async def work(engine: AsyncEngine) -> int:
        if output is None:
            return await write_report(engine, run_id, sys.stdout, failed_only=failed_only)
        # With a BOM so a spreadsheet shows Å, Ä and Ö; our reader skips it.
        with open(output, "w", encoding="utf-8-sig", newline="") as f:
            return await write_report(engine, run_id, f, failed_only=failed_only)

    written = run_async(work)
    if output is not None:
        console.err.print(f"wrote {written} rows to {output}", markup=False)


@app.command()
def worker(
    burst: Annotated[bool, typer.Option("--burst", help="Exit once the queue is empty.")] = False,
) -> None:
    """Run the arq worker (needs ROSTERSYNC_REDIS_URL)."""
    import logging.config

    from arq.logs import default_log_config
    from arq.worker import Worker

    from worker.arq_worker import worker_settings

    logging.config.dictConfig(default_log_config(verbose=True))  # job start/end lines, as arq prints them
    try:
        options = worker_settings(settings(), burst=burst)
    except ValueError as exc:
        fail(str(exc))
    Worker(**options).run()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    run_async(upgrade, migrate=False)
    console.err.print("database schema is current", markup=False)


from worker import cli_registry, cli_sync, cli_vat  # noqa: E402  (register their commands on `app`)

__all__ = ["app", "cli_registry", "cli_sync", "cli_vat"]
