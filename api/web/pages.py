"""The web importer's pages: sign in, upload, confirm the mapping (with a dry-run preview), watch a run, fix
its failed rows, runs and connections. Server-rendered; the same application calls as the JSON API."""

import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile

from api.connections import sync_now
from api.envelope import ApiError
from api.imports import launch, read_blocks, report_download
from api.web import i18n
from api.web.session import PAGES, SESSION, SIGN_IN, Session, form_of, may, same, set_cookie
from jobs import app as application
from jobs.records import FINISHED, ImportRequest, Kind, RunSummary, WebSession

routes = APIRouter(prefix=PAGES, include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
Reader = Annotated[WebSession, Depends(may("imports:read"))]
Writer = Annotated[WebSession, Depends(may("imports:write"))]
SAMPLE_ROWS = 20  # rows of a dry run the preview shows
STATUSES = ("awaiting_mapping", "queued", "running", *FINISHED)
FAILED_PAGE = 50  # failed rows a page of the editable table holds
_HEADERS = {
    # The pages load nothing from elsewhere and run only their own script.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def render(request: Request, name: str, session: WebSession | None, status: int = 200, **values: Any) -> HTMLResponse:
    words = i18n.Words(i18n.language(request))
    context = {"t": words, "session": session, "key": session.key if session else None, **values}
    return templates.TemplateResponse(request, name, context, status_code=status, headers=_HEADERS)


async def error_page(request: Request, status: int, message: str) -> Response:
    """A refusal as a page: the words the JSON API would give, no trace."""
    if status == 401:
        return RedirectResponse(f"{PAGES}/signin", status_code=303)
    return render(request, "error.html", None, status=status, status_code=status, message=message)


async def signed_out(request: Request, exc: Exception) -> Response:
    return RedirectResponse(f"{PAGES}/signin", status_code=303)


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@routes.get("/signin")
async def signin_form(request: Request, failed: bool = False) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, "signin.html", None, status=401 if failed else 200, token=token, failed=failed)
    set_cookie(request, response, SIGN_IN, token, max_age=3600)
    return response


@routes.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=3)
    if not same(form.get("csrf"), request.cookies.get(SIGN_IN)):
        raise ApiError(403, "FORBIDDEN", "The form has expired: reload the page and try again.")
    key = form.get("key")
    opened = await application.open_session(request.app.state.context, key.strip()) if isinstance(key, str) else None
    if opened is None:
        return _to(f"{PAGES}/signin?failed=true")
    session_id, _ = opened
    response = _to(f"{PAGES}/")
    set_cookie(request, response, SESSION, session_id)
    response.delete_cookie(SIGN_IN, path=PAGES)
    return response


@routes.post("/signout")
async def signout(request: Request, session: Session) -> Response:
    await form_of(request, session, max_files=0)
    await application.close_session(request.app.state.context, request.cookies[SESSION])
    response = _to(f"{PAGES}/signin")
    response.delete_cookie(SESSION, path=PAGES)
    return response


@routes.get("/language/{lang}")
async def switch_language(request: Request, lang: Literal["en", "sv"], back: str = f"{PAGES}/") -> Response:
    # Back to a page of ours only: a link elsewhere would make this an open redirect.
    response = _to(back if back.startswith(f"{PAGES}/") and not back.startswith("//") else f"{PAGES}/")
    set_cookie(request, response, i18n.COOKIE, lang, max_age=365 * 86400)
    return response


@routes.get("/")
async def home(request: Request, session: Session) -> HTMLResponse:
    return render(request, "home.html", session)


@routes.post("/imports")
async def upload(request: Request, session: Writer) -> Response:
    """A file into the database and a run awaiting its mapping: nothing is imported before it is confirmed."""
    form = await form_of(request, session, max_files=1, max_fields=7)
    part, kind = form.get("file"), form.get("kind")
    if not isinstance(part, UploadFile) or not part.filename:
        raise ApiError(422, "VALIDATION_ERROR", "Choose a file to upload.")
    if kind not in ("customers", "suppliers"):
        raise ApiError(422, "VALIDATION_ERROR", "Choose customers or suppliers.")
    sheet, header_row = (str(form.get(name) or "").strip() for name in ("sheet", "header_row"))
    if header_row and not (header_row.isdigit() and 0 < int(header_row) <= 1_048_576):
        raise ApiError(422, "VALIDATION_ERROR", "The header row is a row number, from 1.", "header_row")
    company = session.key.company_id
    wanted = ImportRequest(path=part.filename, company_id=company, kind=cast(Kind, kind), sheet=sheet[:100] or None,
                           header_row=int(header_row) if header_row else None)  # fmt: skip
    started = await application.import_upload(request.app.state.context, wanted, read_blocks(part),
                                              awaiting_mapping=True)  # fmt: skip
    return _to(f"{PAGES}/runs/{started.run.run_id}/mapping")


@routes.get("/runs/{run_id}/mapping")
async def mapping(request: Request, run_id: str, session: Writer) -> HTMLResponse:
    context, company = request.app.state.context, session.key.company_id
    run = await application.get_run(context, run_id, company)
    proposal = await application.mapping_of(context, run.run_id, company)
    type_field = "customer_type" if run.kind == "customers" else "supplier_type"
    mapped = {c.field for c in proposal.columns if c.field}
    return render(
        request, "mapping.html", session, run=run, proposal=proposal, fields=application.fields_of(run.kind),
        remembered=any(c.how == "learned" for c in proposal.columns),
        lacking={f: options for f, options in (("country", None), (type_field, application.types_of(run.kind)))
                 if f not in mapped},
    )  # fmt: skip


async def _choices(request: Request, session: WebSession, run: RunSummary) -> dict[str, Any]:
    """The mapping, values for every row and consent a person gave on the mapping form."""
    form = await form_of(request, session, max_files=0, max_fields=500)
    proposal = await application.mapping_of(request.app.state.context, run.run_id, session.key.company_id)
    chosen: dict[str, str | None] = {}
    for index, column in enumerate(proposal.columns):
        field = form.get(f"field-{index}")
        if column.how != "report" and isinstance(field, str):
            chosen[column.header] = field or None
    defaults = {f: v.strip() for f in ("country", "customer_type", "supplier_type")
                if isinstance(v := form.get(f"default-{f}"), str) and v.strip()}  # fmt: skip
    return {"mapping": chosen, "defaults": defaults, "allow_unmapped": form.get("allow_unmapped") == "on"}


@routes.post("/runs/{run_id}/mapping")
async def confirm(request: Request, run_id: str, session: Writer) -> Response:
    context, company = request.app.state.context, session.key.company_id
    run = await application.get_run(context, run_id, company)
    choices = await _choices(request, session, run)
    started = await application.confirm_mapping(context, run.run_id, company, **choices)
    await launch(request, started)
    return _to(f"{PAGES}/runs/{run.run_id}")


@routes.post("/runs/{run_id}/preview")
async def preview(request: Request, run_id: str, session: Writer) -> Response:
    """A dry run under the mapping on the form: its page, or (asked by the mapping page's script) where to
    follow it, so that the form stays as the person left it."""
    context, company = request.app.state.context, session.key.company_id
    run = await application.get_run(context, run_id, company)
    dry = await launch(request, await application.preview_import(context, run.run_id, company,
                                                                 **await _choices(request, session, run)))  # fmt: skip
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"run_id": dry.run_id, "progress": f"{PAGES}/runs/{dry.run_id}/progress",
                             "rows": f"{PAGES}/runs/{dry.run_id}/sample"})  # fmt: skip
    return _to(f"{PAGES}/runs/{dry.run_id}")


@routes.get("/runs/{run_id}/progress")
async def progress(request: Request, run_id: str, session: Reader) -> JSONResponse:
    run = await application.get_run(request.app.state.context, run_id, session.key.company_id)
    return JSONResponse({**_counts(run), "status": run.status, "finished": run.finished}, headers=_HEADERS)


def _counts(run: RunSummary) -> dict[str, int]:
    return {name: getattr(run, name) for name in ("total", "processed", "created", "updated", "skipped", "failed")}


async def _sample(request: Request, run: RunSummary, company: str) -> dict[str, Any]:
    page = await application.run_rows_page(request.app.state.context, run.run_id, company_id=company,
                                           limit=SAMPLE_ROWS)  # fmt: skip
    return {"rows": page.rows, "headers": page.headers or [], "fields": page.fields}


@routes.get("/runs/{run_id}/sample")
async def sample(request: Request, run_id: str, session: Reader) -> HTMLResponse:
    """A dry run's first rows and counts, as a part of the mapping page."""
    company = session.key.company_id
    run = await application.get_run(request.app.state.context, run_id, company)
    return render(request, "sample.html", session, run=run, **await _sample(request, run, company))


@routes.get("/runs/{run_id}")
async def run_page(
    request: Request, run_id: str, session: Reader, cursor: Annotated[str | None, Query(max_length=64)] = None
) -> HTMLResponse:
    context, company = request.app.state.context, session.key.company_id
    run = await application.get_run(context, run_id, company)
    values: dict[str, Any] = {"run": run, "failed_rows": None, "family": None}
    if run.parent_run_id and run.finished:  # a retry: where the whole file stands now
        values["family"] = await application.family_counts(context, run.run_id, company)
    if run.dry_run:
        values.update(await _sample(request, run, company))
    elif run.finished and run.failed:
        page = await application.run_rows_page(context, run.run_id, company_id=company, status="failed",
                                               cursor=cursor, limit=FAILED_PAGE)  # fmt: skip
        values.update(failed_rows=page.rows, headers=page.headers or [], fields=page.fields,
                      next_cursor=page.next_cursor)  # fmt: skip
    return render(request, "run.html", session, **values)


@routes.post("/runs/{run_id}/retry")
async def retry(request: Request, run_id: str, session: Writer) -> Response:
    """The ticked rows, with the values on the form, as a failed-only reimport of just those rows."""
    form = await form_of(request, session, max_files=0, max_fields=FAILED_PAGE * 60)
    edits: dict[int, list[str]] = {}
    for ticked in form.getlist("retry"):
        if isinstance(ticked, str) and ticked.isdigit():
            edits[int(ticked)] = [str(v) for v in form.getlist(f"row-{int(ticked)}")]
    if not edits:
        raise ApiError(422, "VALIDATION_ERROR", "Tick the rows to retry.")
    context = request.app.state.context
    started = await application.retry_rows(context, run_id, session.key.company_id, edits)
    await launch(request, started)
    return _to(f"{PAGES}/runs/{started.run.run_id}")


@routes.get("/runs/{run_id}/report")
async def report(
    request: Request, run_id: str, session: Reader, delimiter: Literal[",", ";"] = ","
) -> StreamingResponse:
    return await report_download(request, session.key.company_id, run_id, failed_only=False, delimiter=delimiter)


@routes.get("/runs")
async def runs(
    request: Request,
    session: Reader,
    status: Annotated[str, Query(max_length=32)] = "",
    kind: Literal["", "customers", "suppliers"] = "",
    source: Literal["", "csv", "reimport", "sync"] = "",
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    if status and status not in STATUSES:
        raise ApiError(422, "VALIDATION_ERROR", f"no status {status}")
    found = await application.list_runs(
        request.app.state.context, session.key.company_id, 51, cursor, status=status or None,
        kind=kind or None, source=source or None,
    )  # fmt: skip
    chosen = {"status": status, "kind": kind, "source": source}
    return render(request, "runs.html", session, runs=found[:50], more=found[49].run_id if len(found) > 50 else None,
                  chosen=chosen, statuses=STATUSES)  # fmt: skip


@routes.get("/connections")
async def connections(
    request: Request, session: Annotated[WebSession, Depends(may("connections:read"))], synced: bool = False
) -> HTMLResponse:
    found = await application.list_connections(request.app.state.context, session.key.company_id)
    return render(request, "connections.html", session, connections=found, synced=synced)


@routes.post("/connections/{connection_id}/sync")
async def sync(
    request: Request, connection_id: str, session: Annotated[WebSession, Depends(may("connections:write"))]
) -> Response:
    await form_of(request, session, max_files=0)
    await sync_now(request, session.key.company_id, connection_id, full=False)
    return _to(f"{PAGES}/connections?synced=true")
