"""Runs (imports, reimports and syncs) of a company: start one by uploading a file (multipart, or the raw file
streamed as the body), list, get with live counts, rows paged, report, reimport, cancel, resume.

A run started here goes to the queue's workers when a queue is configured, else it runs in this process in the
background (the embedded default), as `rostersync import --queue` and `rostersync import` do."""

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import IO, Annotated, Any, Literal, TextIO, TypeVar, cast

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.datastructures import UploadFile as StarletteUpload

from api.auth import CompanyId, scope
from api.envelope import ApiError, ok
from api.paging import Cursor, Limit
from jobs import app as application
from jobs.app import Started
from jobs.records import ApiKey, ImportRequest, Kind, ReimportRequest, RunSummary

routes = APIRouter(prefix="/api/v1/companies/{companyId}/imports", tags=["imports"])
Reader = Annotated[ApiKey, Depends(scope("imports:read"))]
Writer = Annotated[ApiKey, Depends(scope("imports:write"))]
Status = Literal["created", "updated", "skipped", "failed"]
_SPOOL = 1 << 20  # a report is kept in memory up to this size, then on disk
Opts = TypeVar("Opts", bound="_Options")


Source = Literal["auto", "csv", "economic", "faktoora", "visma", "visma-eaccounting"]
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class _Options(BaseModel):
    """What a caller may say about an upload, as form fields (multipart) or query parameters (a raw body)."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(default="upload.csv", min_length=1, max_length=255)
    mapping: dict[str, str | None] | None = None
    defaults: dict[str, str] | None = None
    encoding: str | None = Field(default=None, max_length=32)
    delimiter: str | None = Field(default=None, min_length=1, max_length=2)
    allow_unmapped: bool = False
    sheet: str | None = Field(default=None, min_length=1, max_length=100)  # a workbook's: name or number from 1
    header_row: int | None = Field(default=None, ge=1, le=1_048_576)  # a workbook's row of column names

    @field_validator("mapping", "defaults", mode="before")
    @classmethod
    def _json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("not JSON") from None
        return value


class _ImportOptions(_Options):
    kind: Kind
    mode: Literal["upsert", "create", "update"] = "upsert"
    source: Source = "auto"
    dry_run: bool = False
    mapping_step: bool = False  # wait in awaiting_mapping until POST …/mapping confirms it


class _Confirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mapping: dict[str, str | None] | None = Field(
        default=None, description="header -> field (null: ignore the column); leave out to take the proposal"
    )
    defaults: dict[str, str] | None = Field(default=None, description="field -> value for rows without one")
    allow_unmapped: bool = False


class _ReimportOptions(_Options):
    failed_only: bool = True


async def _upload(request: Request, model: type[Opts]) -> tuple[Opts, AsyncIterator[bytes] | None]:
    """The options and the file's bytes of an upload: a multipart form's `file` part (spooled to disk by the
    parser, so memory stays bounded), or the body itself for any other content type. No file: None."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=20)
        part = form.get("file")
        fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str)}
        if isinstance(part, StarletteUpload):
            fields.setdefault("filename", part.filename or "upload.csv")
        options = _validated(model, fields)
        return options, read_blocks(part) if isinstance(part, StarletteUpload) else None
    options = _validated(model, dict(request.query_params))
    has_body = request.headers.get("content-length", "0") != "0" or "chunked" in request.headers.get(
        "transfer-encoding", ""
    )
    return options, request.stream() if has_body else None


def _validated(model: type[Opts], fields: dict[str, str]) -> Opts:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(422, "VALIDATION_ERROR", f"{field}: {first['msg']}", field) from None


async def read_blocks(part: StarletteUpload) -> AsyncIterator[bytes]:
    while block := await part.read(1 << 20):
        yield block


def _run_json(run: RunSummary) -> dict[str, object]:
    return {"id": run.run_id, "state": run.status, **run.to_json()}


async def launch(request: Request, started: Started) -> RunSummary:
    """Hand the run to the queue, or run it here in the background; the run as it is now."""
    context = request.app.state.context
    if context.settings.redis_url is not None:
        return await application.enqueue(context, started.run)
    task = asyncio.create_task(application.process(context, started))
    request.app.state.tasks.add(task)
    task.add_done_callback(request.app.state.tasks.discard)
    return started.run


@routes.post("", status_code=201, openapi_extra=_UPLOAD_BODY)
async def start(request: Request, company_id: CompanyId, key: Writer) -> JSONResponse:
    options, blocks = await _upload(request, _ImportOptions)
    if blocks is None:
        raise ApiError(422, "VALIDATION_ERROR", "no file: send it as the multipart part `file`, or as the body", "file")
    wanted = ImportRequest(
        path=options.filename, company_id=company_id, kind=options.kind, source=options.source,
        encoding=options.encoding, delimiter=options.delimiter, dry_run=options.dry_run, defaults=options.defaults,
        allow_unmapped=options.allow_unmapped, mode=options.mode, mapping=options.mapping, sheet=options.sheet,
        header_row=options.header_row,
    )  # fmt: skip
    context = request.app.state.context
    started = await application.import_upload(context, wanted, blocks, awaiting_mapping=options.mapping_step)
    if options.mapping_step:
        proposal = await application.mapping_of(context, started.run.run_id, company_id)
        return ok(request, {**_run_json(started.run), "mapping": proposal.to_json()}, status=201)
    return ok(request, _run_json(await launch(request, started)), status=201)


@routes.get("/{run_id}/mapping")
async def proposed_mapping(request: Request, company_id: CompanyId, run_id: str, key: Reader) -> JSONResponse:
    """What a run awaiting its mapping would make of the file: each header, the field it maps to and how (alias,
    learned, mapping), samples, suggestions for unmapped headers, and what would stop the import."""
    proposal = await application.mapping_of(request.app.state.context, run_id, company_id)
    return ok(request, proposal.to_json())


@routes.post("/{run_id}/mapping")
async def confirm_mapping(
    request: Request, company_id: CompanyId, run_id: str, body: _Confirmation, key: Writer
) -> JSONResponse:
    """Confirm (or change) the mapping of a run awaiting it: the run is queued; nothing was written before."""
    started = await application.confirm_mapping(
        request.app.state.context, run_id, company_id, body.mapping, defaults=body.defaults,
        allow_unmapped=body.allow_unmapped,
    )  # fmt: skip
    return ok(request, _run_json(await launch(request, started)))


@routes.post("/{run_id}/reimport", status_code=201, openapi_extra=_UPLOAD_BODY)
async def reimport(request: Request, company_id: CompanyId, run_id: str, key: Writer) -> JSONResponse:
    """The run's rows again (failed ones only by default): from a corrected file, or under a new `mapping`."""
    options, blocks = await _upload(request, _ReimportOptions)
    context = request.app.state.context
    wanted = ReimportRequest(
        parent_run_id=run_id, failed_only=options.failed_only, defaults=options.defaults,
        allow_unmapped=options.allow_unmapped, mapping=options.mapping,
        path=options.filename if blocks is not None else None, sheet=options.sheet, header_row=options.header_row,
    )  # fmt: skip
    if blocks is not None:
        started = await application.reimport_upload(context, wanted, blocks, company_id)
    else:
        started = await application.start_reimport(context, wanted, company_id)
    return ok(request, _run_json(await launch(request, started)), status=201)


@routes.post("/{run_id}/resume")
async def resume(request: Request, company_id: CompanyId, run_id: str, key: Writer) -> JSONResponse:
    """Continue a run whose process died; a finished run is returned as it is."""
    context = request.app.state.context
    run = await application.get_run(context, run_id, company_id)
    if not run.finished and (run.stale or run.status == "queued"):
        run = await launch(request, application.Started(run))
    return ok(request, _run_json(run))


@routes.get("")
async def list_runs(
    request: Request,
    company_id: CompanyId,
    key: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JSONResponse:
    return await page_of_runs(request, company_id, limit, cursor)


async def page_of_runs(
    request: Request, company_id: str, limit: int, cursor: str | None, connection_id: str | None = None
) -> JSONResponse:
    """A page of the company's runs, newest first (of one connection's syncs)."""
    found = await application.list_runs(request.app.state.context, company_id, limit + 1, cursor, connection_id)
    more = len(found) > limit
    runs = found[:limit]
    return ok(request, [_run_json(r) for r in runs], next_cursor=runs[-1].run_id if more else None)


@routes.get("/{run_id}")
async def get_run(request: Request, company_id: CompanyId, run_id: str, key: Reader) -> JSONResponse:
    run = await application.get_run(request.app.state.context, run_id, company_id)
    return ok(request, _run_json(run))


@routes.get("/{run_id}/rows")
async def rows(
    request: Request,
    company_id: CompanyId,
    run_id: str,
    key: Reader,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
) -> JSONResponse:
    page = await application.run_rows_page(
        request.app.state.context, run_id, company_id=company_id, status=status, cursor=cursor, limit=limit
    )
    return ok(request, [r.to_json() for r in page.rows], next_cursor=page.next_cursor, headers=page.headers)


@routes.get("/{run_id}/report", response_class=StreamingResponse)
async def report(
    request: Request,
    company_id: CompanyId,
    run_id: str,
    key: Reader,
    failed_only: bool = False,
    delimiter: Annotated[Literal[",", ";", "\t", "|"] | None, Query()] = None,
    report_format: Annotated[
        Literal["csv", "xlsx"], Query(alias="format", description="xlsx: the failed cells marked")
    ] = "csv",
) -> StreamingResponse:
    if report_format == "xlsx":
        return await workbook_download(request, company_id, run_id, failed_only=failed_only)
    return await report_download(request, company_id, run_id, failed_only=failed_only, delimiter=delimiter)


async def report_download(
    request: Request, company_id: str, run_id: str, *, failed_only: bool, delimiter: str | None
) -> StreamingResponse:
    """The run's CSV report as a download, written to a spool first so that a refusal is still an answer."""
    spool = cast(TextIO, tempfile.SpooledTemporaryFile(_SPOOL, mode="w+", encoding="utf-8", newline=""))  # noqa: SIM115
    try:
        await application.write_report(
            request.app.state.context, run_id, spool, failed_only=failed_only, delimiter=delimiter,
            company_id=company_id,
        )  # fmt: skip
    except BaseException:
        spool.close()
        raise
    return _download(spool, f"run-{run_id}{'-failed' if failed_only else ''}.csv", "text/csv; charset=utf-8")


async def workbook_download(request: Request, company_id: str, run_id: str, *, failed_only: bool) -> StreamingResponse:
    """The run's report as an .xlsx workbook, the failed cells marked, written to a spool first."""
    spool = tempfile.SpooledTemporaryFile(_SPOOL, mode="w+b")  # noqa: SIM115
    try:
        await application.write_workbook_report(
            request.app.state.context, run_id, spool, failed_only=failed_only, company_id=company_id
        )
    except BaseException:
        spool.close()
        raise
    name = f"run-{run_id}{'-failed' if failed_only else ''}.xlsx"
    return _download(spool, name, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _download(spool: IO[Any], name: str, media_type: str) -> StreamingResponse:
    spool.seek(0)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(_chunks(spool), media_type=media_type, headers=headers)


def _chunks(spool: IO[Any]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(1 << 16):
            yield chunk.encode() if isinstance(chunk, str) else chunk


@routes.post("/{run_id}/cancel")
async def cancel(request: Request, company_id: CompanyId, run_id: str, key: Writer) -> JSONResponse:
    run = await application.cancel(request.app.state.context, run_id, company_id)
    return ok(request, _run_json(run))
