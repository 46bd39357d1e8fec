"""A company's connected CRMs: add (the secret stays where it is: only a reference to it is stored), list, get,
remove, sync now, and the runs of its syncs. A sync goes to the queue's workers when a queue is configured,
else it runs in this process in the background; either way one at a time per connection."""

import asyncio
import contextlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CompanyId, scope
from api.envelope import ApiError, ok
from api.imports import page_of_runs
from api.paging import Cursor, Limit
from jobs import app as application
from jobs.errors import RunError
from jobs.records import ApiKey, NewConnection

routes = APIRouter(prefix="/api/v1/companies/{companyId}/connections", tags=["connections"])
Reader = Annotated[ApiKey, Depends(scope("connections:read"))]
Writer = Annotated[ApiKey, Depends(scope("connections:write"))]


class NewConnectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector: Literal["economic", "faktoora", "visma", "visma-eaccounting"]
    base_url: str = Field(max_length=500)
    credential_ref: str = Field(
        max_length=300, description="Where the secret is: env:ROSTERSYNC_CRED_<NAME>, or file:<name> in the secrets dir"
    )
    every: str = Field(default="15m", max_length=10, description="How often to sync: 15m, 1h, 1d")
    home_country: str | None = Field(default=None, min_length=2, max_length=2, description="e-conomic only")


@routes.post("", status_code=201)
async def add(request: Request, company_id: CompanyId, body: NewConnectionBody, key: Writer) -> JSONResponse:
    try:
        every_s = application.parse_every(body.every)
    except ValueError as exc:
        raise ApiError(422, "VALIDATION_ERROR", str(exc), "every") from None
    options: dict[str, Any] = {"home_country": body.home_country.upper()} if body.home_country else {}
    new = NewConnection(company_id, body.connector, body.base_url, body.credential_ref, every_s, options)
    connection = await application.add_connection(request.app.state.context, new)
    return ok(request, connection.to_json(), status=201)


@routes.get("")
async def list_(
    request: Request,
    company_id: CompanyId,
    key: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JSONResponse:
    found = await application.list_connections(request.app.state.context, company_id)
    ids = [c.connection_id for c in found]
    start = ids.index(cursor) + 1 if cursor in ids else 0
    if cursor is not None and cursor not in ids:
        raise ApiError(400, "VALIDATION_ERROR", f"not a cursor this listing gave: {cursor!r}", "cursor")
    page = found[start : start + limit]
    more = start + limit < len(found)
    return ok(request, [c.to_json() for c in page], next_cursor=page[-1].connection_id if more else None)


@routes.get("/{connection_id}")
async def get(request: Request, company_id: CompanyId, connection_id: str, key: Reader) -> JSONResponse:
    connection = await application.get_connection(request.app.state.context, connection_id, company_id)
    return ok(request, connection.to_json())


@routes.delete("/{connection_id}", status_code=204)
async def remove(request: Request, company_id: CompanyId, connection_id: str, key: Writer) -> Response:
    """Disconnect; the registry's records stay, their links to the CRM go."""
    await application.remove_connection(request.app.state.context, connection_id, company_id)
    return Response(status_code=204)


@routes.post("/{connection_id}/sync", status_code=202)
async def sync(
    request: Request, company_id: CompanyId, connection_id: str, key: Writer, full: bool = False
) -> JSONResponse:
    """Sync now: `queued`, or `already queued` while a sync of the connection waits or runs."""
    return ok(request, await sync_now(request, company_id, connection_id, full), status=202)


async def sync_now(request: Request, company_id: str, connection_id: str, full: bool) -> dict[str, Any]:
    """Hand a sync to the queue, or start it in this process in the background; what became of it."""
    context = request.app.state.context
    if context.settings.redis_url is not None:
        summary = await application.enqueue_sync(context, connection_id, full=full, company_id=company_id)
        return summary.to_json()
    connection = await application.get_connection(context, connection_id, company_id)
    running: dict[str, asyncio.Task[Any]] = request.app.state.syncs
    if connection.connection_id in running:
        return {"connection_id": connection.connection_id, "status": "already queued"}
    task = asyncio.create_task(_sync_here(context, connection.connection_id, full))
    running[connection.connection_id] = task
    task.add_done_callback(lambda _: running.pop(connection.connection_id, None))
    request.app.state.tasks.add(task)
    task.add_done_callback(request.app.state.tasks.discard)
    return {"connection_id": connection.connection_id, "status": "queued"}


async def _sync_here(context: application.Context, connection_id: str, full: bool) -> None:
    # Another process syncing it (SyncBusy), or a sync that cannot start: the connection's last status says so.
    with contextlib.suppress(RunError):
        await application.sync(context, connection_id, full=full)


@routes.get("/{connection_id}/runs")
async def runs(
    request: Request,
    company_id: CompanyId,
    connection_id: str,
    key: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JSONResponse:
    return await page_of_runs(request, company_id, limit, cursor, connection_id=connection_id)
