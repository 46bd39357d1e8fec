"""`rostersync status`, `runs` and `report`: reading what runs did. None of them writes anything."""

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from jobs import app as application
from jobs.errors import RunError
from jobs.records import RunSummary
from worker.cli.common import (
    NAMED_DELIMITERS,
    AnyCompany,
    Json,
    err,
    fail,
    listing,
    out,
    print_json,
    print_run,
    run_async,
)

app = typer.Typer()
runs_app = typer.Typer(help="List recent runs, newest first; `runs purge` drops old runs' source values.")

RunId = Annotated[str, typer.Argument(help="The run, or a unique prefix of its id.")]


@app.command()
def status(run_id: RunId, as_json: Json = False) -> None:
    """Show a run's status and counts (live while it runs)."""
    run = run_async(lambda ctx: application.get_run(ctx, run_id), create=False)
    if as_json:
        print_json(run.to_json())
        return
    print_run(run)
    if run.status in ("queued", "running"):
        out.print(f"progress: {run.processed} of {run.total} rows", markup=False)


@runs_app.callback(invoke_without_command=True)
def list_runs(context: typer.Context, company: AnyCompany = None, as_json: Json = False) -> None:
    """List recent runs, newest first."""
    if context.invoked_subcommand is not None:
        return
    found = listing(lambda ctx: application.list_runs(ctx, company), as_json)
    if found is None:
        return
    from rich.table import Table

    table = Table("run", "company", "kind", "source", "status", "created", "failed", "total", "started")
    table.columns[0].no_wrap = True  # an id is copied whole, never cut
    for r in found:
        table.add_row(
            r.run_id, r.company_id, r.kind, r.source, r.status + (" (dry run)" if r.dry_run else ""),
            str(r.created), str(r.failed), str(r.total), r.created_at or "",
        )  # fmt: skip
    out.print(table)


class _ReportFile(io.TextIOWrapper):
    """The report's file, whose failures (a missing folder, a full disk) say so, apart from the database's."""

    path: Path

    @classmethod
    def create(cls, path: Path) -> "_ReportFile":
        try:
            raw = open(path, "wb")  # noqa: SIM115 - closed by the text file around it
        except OSError as exc:
            fail(f"cannot write {path}: {exc.strerror}")
        # With a BOM so a spreadsheet shows Å, Ä and Ö; our reader skips it.
        report = cls(raw, encoding="utf-8-sig", newline="")
        report.path = path
        return report

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except OSError as exc:
            raise RunError(f"cannot write {self.path}: {exc.strerror}") from None

    def flush(self) -> None:  # also on close: a full disk may show only there
        try:
            super().flush()
        except OSError as exc:
            raise RunError(f"cannot write {self.path}: {exc.strerror}") from None


def _report_delimiter(value: str | None) -> str | None:
    """`--delimiter`: one of the application's report delimiters, or its name (tab, semicolon, ...)."""
    if value is None:
        return None
    delimiter = NAMED_DELIMITERS.get(value.lower(), value)
    if delimiter not in application.REPORT_DELIMITERS:
        fail(f"--delimiter cannot be {value!r}: a report is written with , ; | or tab")
    return delimiter


class ReportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def _report_format(given: ReportFormat | None, output: Path | None) -> ReportFormat:
    """`--format`, else the output's extension: a report named .xlsx is a workbook."""
    if given is not None:
        return given
    return ReportFormat.xlsx if output is not None and output.suffix.lower() == ".xlsx" else ReportFormat.csv


@app.command()
def report(
    run_id: RunId,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")] = None,
    failed_only: Annotated[bool, typer.Option("--failed-only", help="Only the rows that failed.")] = False,
    delimiter: Annotated[
        str | None,
        typer.Option(
            "--delimiter",
            callback=_report_delimiter,
            help="; , | or tab (default: ; when the run's file used ;, else ,).",
        ),
    ] = None,
    format_: Annotated[
        ReportFormat | None,
        typer.Option("--format", help="csv, or xlsx with the failed cells marked (default: by -o's extension)."),
    ] = None,
) -> None:
    """Per-row report as CSV: row_number,status,error_code,error_field,error_message,entity_id + source columns."""
    workbook = _report_format(format_, output) is ReportFormat.xlsx
    if workbook and output is None and sys.stdout.isatty():
        fail("an xlsx report is not for a terminal: give -o FILE.xlsx")

    async def work(ctx: application.Context) -> tuple[int, RunSummary]:
        run = await application.get_run(ctx, run_id)
        if workbook:
            write_book = partial(application.write_workbook_report, ctx, run.run_id, failed_only=failed_only)
            if output is None:
                return await write_book(sys.stdout.buffer), run
            with _created(output, "wb") as book:
                return await write_book(book), run
        write = partial(application.write_report, ctx, run.run_id, failed_only=failed_only, delimiter=delimiter)
        if output is None:
            return await write(sys.stdout), run
        with _created(output, "report") as report:
            return await write(report), run

    written, run = run_async(work, create=False)
    if output is not None:
        err.print(f"wrote {written} rows to {output}", markup=False)
    if run.purged_at:
        err.print(f"the source values of this run were purged on {run.purged_at[:10]}: outcomes only", markup=False)


@contextmanager
def _created(path: Path, how: str) -> Iterator[Any]:
    """The report's file (`how`: "wb", or "report" for the CSV's `_ReportFile`), removed when writing it fails:
    rather than a report cut off somewhere, none."""
    try:
        opened = _ReportFile.create(path) if how == "report" else open(path, how)  # noqa: SIM115 - closed below
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    try:
        with opened:
            yield opened
    except BaseException:
        if path.is_file():
            path.unlink()
        raise


@runs_app.command("purge")
def purge(
    older_than: Annotated[str, typer.Option("--older-than", help="Finished longer ago than this: 90d, 12h.")],
    company: AnyCompany = None,
    as_json: Json = False,
) -> None:
    """Drop the stored source values (personnummer included) of old finished runs; counts and outcomes stay."""
    result = run_async(lambda ctx: application.purge_runs(ctx, older_than, company), create=False)
    if as_json:
        print_json(result.to_json())
    else:
        out.print(f"purged the source values of {result.runs} runs ({result.rows} rows)", markup=False)
