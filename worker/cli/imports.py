"""`rostersync import`, `reimport`, `resume` and `cancel`: starting and steering runs."""

import codecs
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jobs import app as application
from jobs.context import Context
from jobs.records import ImportRequest, ReimportRequest, RunSummary
from worker.cli.common import (
    NAMED_DELIMITERS,
    Company,
    Json,
    KindOption,
    err,
    fail,
    finish,
    out,
    print_json,
    print_run,
    progress_bar,
    run_async,
)

app = typer.Typer()


class SourceOption(StrEnum):
    auto = "auto"
    csv = "csv"
    faktoora = "faktoora"
    economic = "economic"
    visma = "visma"
    visma_eaccounting = "visma-eaccounting"


class ModeOption(StrEnum):
    upsert = "upsert"
    create = "create"
    update = "update"


Queue = Annotated[bool, typer.Option("--queue", help="Hand the run to `rostersync worker`.")]


def _delimiter(value: str | None) -> str | None:
    if value is None:
        return None
    value = NAMED_DELIMITERS.get(value.lower(), value)
    if len(value) != 1:
        fail(f"--delimiter must be one character (or tab), got {value!r}")
    if value == '"':
        why = "it is the quote character"
    elif value.isalnum():
        why = "a letter or digit is part of the values"
    elif value.isspace() and value != "\t":
        why = "line breaks and spaces other than tab are not delimiters"
    else:
        return value
    fail(f"--delimiter cannot be {value!r}: {why}; give e.g. , ; | or tab")


def _encoding(value: str | None) -> str | None:
    if value is not None:
        try:
            codecs.lookup(value)
        except LookupError:
            fail(f"unknown --encoding {value!r}")
    return value


def _settings(values: list[str] | None) -> dict[str, str] | None:
    """`--set FIELD=VALUE`, repeatable: a value for every row that has none of its own."""
    if not values:
        return None
    given = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            fail(f"--set takes FIELD=VALUE (e.g. --set country=SE), got {value!r}")
        given[name.strip()] = text
    return given


MappingFile = Annotated[Path | None, typer.Option("--mapping", help="JSON {header: field|null}.")]
Encoding = Annotated[
    str | None, typer.Option("--encoding", callback=_encoding, help="The file's encoding (default: detected).")
]
Delimiter = Annotated[
    str | None, typer.Option("--delimiter", callback=_delimiter, help="One character, or tab (default: detected).")
]
Sheet = Annotated[
    str | None,
    typer.Option(
        "--sheet", metavar="NAME|INDEX", help="A workbook's sheet, by name or number from 1 (default: the first)."
    ),
]
HeaderRow = Annotated[
    int | None,
    typer.Option("--header-row", metavar="N", min=1, help="A workbook's row of column names (default: found)."),
]
AllowUnmapped = Annotated[
    bool, typer.Option("--allow-unmapped", help="Import although a column that looks like a field is not mapped.")
]
Set = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="FIELD=VALUE", help="A value for every row without one (repeatable), e.g. country=SE."
    ),
]


async def _run_or_queue(ctx: Context, started: application.Started, *, queue: bool, show_progress: bool) -> RunSummary:
    if queue:
        return await application.enqueue(ctx, started.run)
    with progress_bar(started.run.total, show_progress) as progress:
        return await application.process(ctx, started, progress=progress)


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(help="CSV export, workbook (.xlsx, .xls, .ods), or a saved JSON page of a connected system."),
    ],
    company: Company,
    kind: Annotated[KindOption, typer.Option("--kind")],
    source: Annotated[SourceOption, typer.Option("--source")] = SourceOption.auto,
    mapping: MappingFile = None,
    encoding: Encoding = None,
    delimiter: Delimiter = None,
    sheet: Sheet = None,
    header_row: HeaderRow = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; write nothing.")] = False,
    mode: Annotated[
        ModeOption,
        typer.Option(
            "--mode",
            help="Rows matching a record (org, own, VAT number): upsert updates it, create skips it, update "
            "fails rows matching none.",
        ),
    ] = ModeOption.upsert,
    set_: Set = None,
    allow_unmapped: AllowUnmapped = False,
    queue: Queue = False,
    as_json: Json = False,
) -> None:
    """Import customers or suppliers from a file."""
    request = ImportRequest(
        path=str(file),
        company_id=company,
        kind=kind.value,
        source=source.value,
        mapping_path=str(mapping) if mapping else None,
        encoding=encoding,
        delimiter=delimiter,
        dry_run=dry_run,
        defaults=_settings(set_),
        allow_unmapped=allow_unmapped,
        mode=mode.value,
        sheet=sheet,
        header_row=header_row,
    )

    async def work(ctx: Context) -> RunSummary:
        if queue:
            await application.check_queue(ctx)
        started = await application.start_import(ctx, request)
        return await _run_or_queue(ctx, started, queue=queue, show_progress=not as_json)

    finish(run_async(work, vies=not queue, as_json=as_json), as_json)


@app.command("mapping")
def mapping_(
    file: Annotated[Path, typer.Argument(help="The CSV file or workbook an import would read.")],
    company: Company,
    kind: Annotated[KindOption, typer.Option("--kind")],
    mapping: MappingFile = None,
    encoding: Encoding = None,
    delimiter: Delimiter = None,
    sheet: Sheet = None,
    header_row: HeaderRow = None,
    set_: Set = None,
    allow_unmapped: AllowUnmapped = False,
    as_json: Json = False,
) -> None:
    """Show how an import would map the file's columns (with sample values), writing nothing."""
    request = ImportRequest(
        path=str(file),
        company_id=company,
        kind=kind.value,
        mapping_path=str(mapping) if mapping else None,
        encoding=encoding,
        delimiter=delimiter,
        defaults=_settings(set_),
        allow_unmapped=allow_unmapped,
        sheet=sheet,
        header_row=header_row,
    )
    found = run_async(
        lambda ctx: application.preview_mapping(ctx, request),
        create=False,
        offline=lambda: application.preview_mapping(None, request),  # no database yet: nothing remembered
    )
    if as_json:
        print_json(found.to_json())
        return
    read_as = f"sheet {found.sheet!r}" if found.sheet is not None else f"{found.encoding}, {found.delimiter!r}"
    table = Table("column", "field", "how", "samples", title=f"{file} ({found.rows:,} rows, {read_as})")
    for column in found.columns:
        field = column.field or (f"did you mean {column.suggestion}?" if column.suggestion else "-")
        table.add_row(column.header, field, column.how, " | ".join(column.samples))
    out.print(table)
    if found.sheets:
        out.print(f"sheets: {', '.join(found.sheets)} (choose one with --sheet)", markup=False)
    if found.stop:
        err.print(f"the import would stop: {found.stop}", markup=False)


@app.command()
def reimport(
    run_id: Annotated[str, typer.Argument(help="The run (or a unique prefix of its id) whose rows to import again.")],
    failed_only: Annotated[bool, typer.Option("--failed-only", help="Only the rows that failed.")] = False,
    file: Annotated[Path | None, typer.Option("--file", help="A corrected file (the edited report works).")] = None,
    mapping: MappingFile = None,
    set_: Set = None,
    allow_unmapped: AllowUnmapped = False,
    sheet: Sheet = None,
    header_row: HeaderRow = None,
    queue: Queue = False,
    as_json: Json = False,
) -> None:
    """Import a run's rows again as a new run linked to it; rows it already created are never created twice."""
    request = ReimportRequest(
        run_id,
        failed_only=failed_only,
        path=str(file) if file else None,
        mapping_path=str(mapping) if mapping else None,
        defaults=_settings(set_),
        allow_unmapped=allow_unmapped,
        sheet=sheet,
        header_row=header_row,
    )

    async def work(ctx: Context) -> RunSummary:
        parent = await application.get_run(ctx, run_id)
        if parent.source.startswith("sync:"):
            if file is not None or mapping is not None or set_ or queue:
                fail("a sync run is reimported from the records it stored: no --file, --mapping, --set or --queue")
            return await application.reimport_sync(ctx, parent.run_id, failed_only=failed_only)
        if queue:
            await application.check_queue(ctx)
        started = await application.start_reimport(ctx, request)
        return await _run_or_queue(ctx, started, queue=queue, show_progress=not as_json)

    finish(run_async(work, create=False, vies=not queue, as_json=as_json), as_json)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The run (or a unique prefix of its id).")], as_json: Json = False
) -> None:
    """Continue a run whose process died, at its first unfinished batch."""
    finish(run_async(lambda ctx: application.resume(ctx, run_id), vies=True, create=False, as_json=as_json), as_json)


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument(help="The run (or a unique prefix of its id).")], as_json: Json = False
) -> None:
    """Stop a run: a queued one never starts, a running one stops after the batches it is writing."""
    run = run_async(lambda ctx: application.cancel(ctx, run_id), create=False)
    if as_json:
        print_json(run.to_json())
    else:
        print_run(run)
