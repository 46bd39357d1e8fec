"""Starting imports and reimports, and reopening a run's input, for the CLI and the arq job alike.

What makes a run impossible from the start (an unreadable file, missing columns, a bad mapping) is found here,
before the run exists: a refused import writes nothing. What can change until the run is processed (the file,
the family's other runs) is checked again when its input is reopened.
"""

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs import companies, mappings, uploads
from jobs.errors import FamilyBusy, RunError
from jobs.ledger import runs
from jobs.pipeline.inputs import (
    CsvInput,
    Input,
    SavedPageInput,
    StoredRowsInput,
    checked_defaults,
    checked_mapping,
    detect_source,
    mapping_overrides,
    refuse_a_field_every_row_lacks,
    regular_file,
)
from jobs.pipeline.lineage import lineage
from jobs.pipeline.matching import DEFAULT_MODE, MODES
from jobs.pipeline.snapshot import Snapshot, take
from jobs.records import AWAITING_MAPPING, FINISHED, ImportRequest
from registry.fields import Kind

CONNECTOR_SOURCES = ("economic", "faktoora", "visma", "visma-eaccounting")


async def start_import(
    engine: AsyncEngine, request: ImportRequest, *, awaiting_mapping: bool = False, run_id: uuid.UUID | None = None
) -> tuple[uuid.UUID, Input]:
    """Check the file and create a queued run; returns the run id and the opened input. `awaiting_mapping`: the
    run waits for its mapping to be confirmed, and a column that would stop the import does not stop it yet.
    `run_id`: the run that awaited its mapping, queued now with the mapping `request` gives."""
    path, kind = request.path, request.kind
    file = await take_file(engine, request.company_id, path, request.upload_id)
    overrides = given_mapping(request.mapping, request.mapping_path)
    source = detect_source(file) if request.source == "auto" else request.source
    defaults = checked_defaults(kind, request.defaults)
    if request.mode not in MODES:
        raise RunError(f"unknown mode {request.mode!r}: use one of {', '.join(MODES)}")
    options: dict[str, Any] = {"mapping": overrides, "defaults": defaults, "mode": request.mode}
    options.update(_where(file, request.upload_id))
    inp: CsvInput | SavedPageInput
    if source in CONNECTOR_SOURCES and path.lower().endswith(".json"):
        if defaults:
            raise RunError("values for every row (--set) are for CSV files: a saved page's records carry their own")
        inp = SavedPageInput(file, kind, source)
    else:
        inp, used = await open_csv(engine, request, file)
        if not awaiting_mapping:
            refuse_before_writing(inp, request)
        # A resume maps as this run did, whatever is remembered by then, and fills in what this run filled in.
        options.update(mapping=used, defaults=inp.defaults, **read_as(inp))
        source = "csv" if source == "auto" else source
    options["format"] = "json" if isinstance(inp, SavedPageInput) else "csv"
    if awaiting_mapping:  # what the person gave: a remembered mapping is proposed as such
        options["given_mapping"] = overrides
    new = runs.NewRun(
        company_id=request.company_id,
        kind=kind,
        source=source,
        source_name=options["path"] or path,
        options=options,
        headers=inp.headers,
        total=inp.total,
        dry_run=request.dry_run,
        source_sha256=file.sha256,
        warnings=inp.warnings,
        status=AWAITING_MAPPING if awaiting_mapping else "queued",
    )
    if run_id is None:
        run_id = await runs.create_run(engine, new)
    else:
        await runs.confirm_mapping(engine, run_id, new)
    if overrides and isinstance(inp, CsvInput) and not request.dry_run and not awaiting_mapping:
        await mappings.remember(engine, request.company_id, kind, inp.headers, overrides)
    return run_id, inp


async def take_file(engine: AsyncEngine | None, company_id: str, path: str, upload_id: str | None) -> Snapshot:
    """The private copy a run reads: of an upload in the database (`path` is its name), or of a file here."""
    if upload_id is not None:
        assert engine is not None, "an upload is in the database"
        return await uploads.snapshot(engine, company_id, upload_id, name=path)
    return take(regular_file(path), name=path)


def _where(file: Snapshot, upload_id: str | None) -> dict[str, str | None]:
    """Where a run's file is read again from (a resume, a worker): the upload, or the path of the file."""
    return {"path": None, "upload": upload_id} if upload_id is not None else {"path": str(Path(file.name).resolve())}


def read_as(inp: CsvInput) -> dict[str, Any]:
    """How a run's file was read, so a resume or a worker reads it the same way: a text file's encoding and
    delimiter, or a workbook's sheet and header row."""
    source = inp.source
    if source.sheet is not None:
        return {"encoding": None, "delimiter": None, "sheet": source.sheet, "header_row": source.header_line}
    return {"encoding": source.encoding, "delimiter": source.delimiter}


def reopened(file: Snapshot, kind: Kind, options: Mapping[str, Any], **given: Any) -> CsvInput:
    """A run's file as the run read it (`read_as`)."""
    return CsvInput(
        file,
        kind,
        encoding=options.get("encoding"),
        delimiter=options.get("delimiter"),
        sheet=options.get("sheet"),
        header_row=options.get("header_row"),
        defaults=options.get("defaults"),
        **given,
    )


def given_mapping(mapping: Mapping[str, str | None] | None, mapping_path: str | None) -> dict[str, str | None] | None:
    return dict(mapping) if mapping is not None else mapping_overrides(mapping_path)


async def open_csv(
    engine: AsyncEngine | None, request: ImportRequest, file: Snapshot
) -> tuple[CsvInput, dict[str, str | None] | None]:
    """A CSV import's input as the import reads it, with the company's default country and the mapping
    remembered for its headers (none without a database); returns it and the mapping it uses."""
    kind = request.kind
    overrides = given_mapping(request.mapping, request.mapping_path)
    defaults = checked_defaults(kind, request.defaults)
    if engine is not None and "country" not in defaults:
        country = (await companies.get(engine, request.company_id)).default_country
        if country is not None:
            defaults = {"country": country, **defaults}
    inp = CsvInput(
        file,
        kind,
        encoding=request.encoding,
        delimiter=request.delimiter,
        overrides=overrides,
        defaults=defaults,
        sheet=request.sheet,
        header_row=request.header_row,
    )
    learned = await mappings.recall(engine, request.company_id, kind, inp.headers) if engine and not overrides else {}
    if learned:
        inp.remap(None, learned)
        inp.warnings.append("mapped as the last file with these columns was (a remembered mapping)")
        return inp, learned
    return inp, overrides


def refuse_before_writing(inp: CsvInput, request: ImportRequest) -> None:
    """What stops a CSV import before its run exists: a column that looks like a field but is not mapped, a
    field every row lacks."""
    if not request.allow_unmapped:
        inp.refuse_lookalikes()
    refuse_a_field_every_row_lacks(inp, request.kind, request.path)


async def start_reimport(
    engine: AsyncEngine,
    parent_id: str,
    *,
    failed_only: bool,
    path: str | None = None,
    mapping_path: str | None = None,
    defaults: Mapping[str, str] | None = None,
    allow_unmapped: bool = False,
    upload_id: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
) -> uuid.UUID:
    """Check the corrected file (or the parent's stored rows under the mapping) and create a queued run. Which
    rows the family already did is worked out once, when the run is processed under its lease."""
    parent = await runs.get_run(engine, parent_id)
    if parent["source"].startswith("sync:"):
        raise RunError(f"run {parent['id']} is a sync run: it is reimported from the records it stored")
    if parent["dry_run"]:
        raise RunError(f"run {parent['id']} was a dry run and wrote nothing: import the file instead")
    if parent["status"] not in FINISHED:
        raise RunError(f"run {parent['id']} has not finished ({parent['status']}): resume it first")
    if parent["purged_at"] is not None and not path:
        raise RunError(f"run {parent['id']}'s stored source values were purged: reimport it with --file")
    if (sheet is not None or header_row is not None) and not path:
        raise RunError("--sheet and --header-row are for a corrected workbook given with --file")
    kind: Kind = parent["kind"]
    new_mapping = mapping is not None or mapping_path is not None
    overrides = given_mapping(mapping, mapping_path) if new_mapping else parent["options"].get("mapping")
    given = checked_defaults(kind, defaults) if defaults else parent["options"].get("defaults")
    options: dict[str, Any] = {
        "parent": str(parent["id"]),
        "failed_only": failed_only,
        "mapping": overrides,
        "defaults": given,
        "path": None,
        # A reimport matches rows as its parent did (a parent from before modes: the default).
        "mode": parent["options"].get("mode", DEFAULT_MODE),
    }
    sha256 = None
    if path:
        file = await take_file(engine, parent["company_id"], path, upload_id)
        options.update(_where(file, upload_id))
        sha256 = file.sha256
        corrected = CsvInput(file, kind, overrides=overrides, defaults=given, sheet=sheet, header_row=header_row)
        if not allow_unmapped:
            corrected.refuse_lookalikes()
        refuse_a_field_every_row_lacks(corrected, kind, path)
        options.update(read_as(corrected))
        headers, total, warnings = corrected.headers, corrected.total, corrected.warnings
    else:
        if parent["options"].get("format") == "json":
            raise RunError(
                f"run {parent['id']} read a saved API page; reimport it with --file (a corrected page or CSV)"
            )
        headers, warnings = list(parent["headers"] or []), []
        checked_mapping(f"run {parent['id']}", headers, kind, overrides)
        total = parent["failed"] if failed_only else parent["processed"]
    if new_mapping and overrides:
        await mappings.remember(engine, parent["company_id"], kind, headers, overrides)
    return await runs.create_run(
        engine,
        runs.NewRun(
            company_id=parent["company_id"],
            kind=kind,
            source="reimport",
            source_name=options["path"] or path or f"run {parent['id']}",
            options=options,
            headers=headers,
            total=total,
            source_sha256=sha256,
            parent_run_id=parent["id"],
            warnings=warnings,
        ),
    )


async def _reimport_input(engine: AsyncEngine, parent: RowMapping, run: RowMapping, file: Snapshot | None) -> Input:
    """A reimport's input with its family's lineage as it is now; what the run itself did before a resume is
    not what its family did before it."""
    kind: Kind = parent["kind"]
    options = run["options"]
    family = await lineage(
        engine,
        parent["id"],
        failed_only=options["failed_only"],
        repairs=not options["failed_only"] and "mode" in options,
        names_of=kind if file else None,
        leave_out=run["id"],
    )
    if file is not None:
        return reopened(file, kind, options, overrides=options["mapping"], total=run["total"], lineage=family)
    return StoredRowsInput(
        engine, parent, kind, options["mapping"], lineage=family, total=run["total"], defaults=options.get("defaults")
    )


async def _family_idle(engine: AsyncEngine, parent_id: uuid.UUID, own_id: uuid.UUID) -> None:
    """Two reimports of one family running at once would each think the other's rows are not done yet."""
    async with engine.connect() as conn:
        family = await runs.family(conn, parent_id)
    busy = [r for r in family if r["id"] != own_id and runs.busy(r)]
    if busy:
        raise FamilyBusy(f"run {busy[0]['id']} of the same file is running; reimport once it has finished")


async def open_input(engine: AsyncEngine, run: RowMapping) -> Input:
    """Reopen a run's input (in a worker, or to resume): the file must be the one the run started with."""
    options = run["options"]
    if options.get("connection_id"):
        raise RunError(
            f"run {run['id']} belongs to a sync: it is not resumed; the next sync (or a new reimport) reads it again"
        )
    # The run's version of the file, or a clean stop: never rows of another version under its line numbers.
    path, upload, sha256 = options.get("path"), options.get("upload"), run["source_sha256"]
    file = None
    if upload is not None:
        file = await uploads.snapshot(
            engine, run["company_id"], upload, name=run["source_name"], expected_sha256=sha256
        )
    elif path is not None:
        file = take(regular_file(path), name=path, expected_sha256=sha256)
    if run["source"] == "reimport":
        parent = await runs.get_run(engine, options["parent"])
        await _family_idle(engine, parent["id"], run["id"])
        return await _reimport_input(engine, parent, run, file)
    assert file is not None, "a file run has its path"
    if options.get("format") == "json":
        return SavedPageInput(file, run["kind"], run["source"])
    return reopened(file, run["kind"], options, overrides=options.get("mapping"), total=run["total"])
