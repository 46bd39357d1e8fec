"""Runs (imports, reimports and syncs) of a company: list, get with live counts, rows paged, report, cancel.
Starting an import by upload is not here yet."""

import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Literal, TextIO, cast

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api.auth import CompanyId, scope
from api.envelope import ok
from jobs import app as application
from jobs.records import ApiKey

routes = APIRouter(prefix="/api/v1/companies/{companyId}/imports", tags=["imports"])
Reader = Annotated[ApiKey, Depends(scope("imports:read"))]
Writer = Annotated[ApiKey, Depends(scope("imports:write"))]
Status = Literal["created", "updated", "skipped", "failed"]
_SPOOL = 1 << 20  # a report is kept in memory up to this size, then on disk


@routes.get("")
async def list_runs(
    request: Request,
    company_id: CompanyId,
    key: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    found = await application.list_runs(request.app.state.context, company_id, limit + 1, cursor)
    more = len(found) > limit
    runs = found[:limit]
    return ok(request, [r.to_json() for r in runs], next_cursor=runs[-1].run_id if more else None)


@routes.get("/{run_id}")
async def get_run(request: Request, company_id: CompanyId, run_id: str, key: Reader) -> JSONResponse:
    run = await application.get_run(request.app.state.context, run_id, company_id)
    return ok(request, run.to_json())


@routes.get("/{run_id}/rows")
async def rows(
    request: Request,
    company_id: CompanyId,
    run_id: str,
    key: Reader,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
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
) -> StreamingResponse:
    spool = cast(TextIO, tempfile.SpooledTemporaryFile(_SPOOL, mode="w+", encoding="utf-8", newline=""))  # noqa: SIM115
    try:
        await application.write_report(
            request.app.state.context, run_id, spool, failed_only=failed_only, delimiter=delimiter,
            company_id=company_id,
        )  # fmt: skip
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    name = f"run-{run_id}{'-failed' if failed_only else ''}.csv"
    return StreamingResponse(
        _chunks(spool), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip


def _chunks(spool: IO[str]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(1 << 16):
            yield chunk.encode()


@routes.post("/{run_id}/cancel")
async def cancel(request: Request, company_id: CompanyId, run_id: str, key: Writer) -> JSONResponse:
    run = await application.cancel(request.app.state.context, run_id, company_id)
    return ok(request, run.to_json())
