"""The registry API of customers and suppliers: list, get, create, bulk-create. Both
creates go through the registry's bulk-create, the code the imports write with."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from api.auth import CompanyId, scope
from api.envelope import ApiError, ok, ok_plain
from api.paging import Cursor, Limit
from jobs import app as application
from jobs.errors import Refused
from jobs.records import ApiKey, Kind, PartyQuery

Payload = Annotated[dict[str, Any], Body(description="The record's fields, as the create payload takes them.")]
DryRun = Annotated[bool, Query(description="Validate only: nothing is written.")]


def _idempotency_key(value: str | None) -> str:
    if value is None:
        raise ApiError(400, "VALIDATION_ERROR", "the Idempotency-Key header is required", "Idempotency-Key")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(
            400, "VALIDATION_ERROR", "the Idempotency-Key header must be a UUID", "Idempotency-Key"
        ) from None


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=64)]


def router(kind: Kind) -> APIRouter:
    read, write = scope(f"{kind}:read"), scope(f"{kind}:write")
    routes = APIRouter(prefix=f"/api/v1/companies/{{companyId}}/{kind}", tags=[kind])

    @routes.get("")
    async def list_(
        request: Request,
        company_id: CompanyId,
        key: Annotated[ApiKey, Depends(read)],
        include_archived: bool = False,
        search: Annotated[str | None, Query(max_length=100)] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> JSONResponse:
        query = PartyQuery(kind, company_id, search, include_archived, limit, cursor)
        page = await application.list_parties(request.app.state.context, query)
        return ok(request, page.records, next_cursor=page.next_cursor)

    @routes.get("/{id}")
    async def get(
        request: Request, company_id: CompanyId, id: str, key: Annotated[ApiKey, Depends(read)]
    ) -> JSONResponse:
        return ok(request, await application.get_party(request.app.state.context, kind, company_id, id))

    @routes.post("", status_code=201)
    async def create(
        request: Request,
        background: BackgroundTasks,
        company_id: CompanyId,
        payload: Payload,
        key: Annotated[ApiKey, Depends(write)],
        idempotency_key: IdempotencyKey = None,
        dry_run: DryRun = False,
    ) -> JSONResponse:
        context = request.app.state.context
        key_value = f"api:{kind}:create:{_idempotency_key(idempotency_key)}"
        result, checker = await application.create_parties(
            context, kind, company_id, [payload], idempotency_key=key_value, dry_run=dry_run
        )
        item = result.response()["results"][0]
        if not item["ok"]:
            raise Refused(item["error"])
        if dry_run:
            return ok(request, item["data"])
        record = await application.get_party(context, kind, company_id, item["data"]["id"])
        response = ok(request, record, status=201)  # a replay answers as the first answer did
        background.add_task(checker.drain)  # VIES after the answer: best-effort, rechecked later if it fails
        response.background = background
        return response

    @routes.post("/bulk-create")
    async def bulk_create(
        request: Request,
        background: BackgroundTasks,
        company_id: CompanyId,
        body: Annotated[dict[str, Any], Body()],
        key: Annotated[ApiKey, Depends(write)],
        idempotency_key: IdempotencyKey = None,
        dry_run: DryRun = False,
    ) -> Response:
        items = body.get(kind)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ApiError(422, "VALIDATION_ERROR", f"{kind}: a list of objects is required", kind)
        key_value = f"api:{kind}:bulk:{_idempotency_key(idempotency_key)}"
        result, checker = await application.create_parties(
            request.app.state.context, kind, company_id, items, idempotency_key=key_value, dry_run=dry_run,
            all_or_nothing=body.get("all_or_nothing") is True,
        )  # fmt: skip
        # A dry run shows whole records (times, dates); otherwise the answer holds JSON's own types only.
        response = ok(request, result.response()) if dry_run else ok_plain(request, result.response())
        background.add_task(checker.drain)
        response.background = background
        return response

    @routes.patch("/{id}")
    async def patch(
        request: Request,
        background: BackgroundTasks,
        company_id: CompanyId,
        id: str,
        changes: Annotated[dict[str, Any], Body(description="The fields to change; null clears one.")],
        key: Annotated[ApiKey, Depends(write)],
        idempotency_key: IdempotencyKey = None,
        dry_run: DryRun = False,
    ) -> JSONResponse:
        key_value = f"api:{kind}:patch:{_idempotency_key(idempotency_key)}"
        record, checker = await application.patch_party(
            request.app.state.context, kind, company_id, id, changes, idempotency_key=key_value, dry_run=dry_run
        )
        response = ok(request, record)
        background.add_task(checker.drain)
        response.background = background
        return response

    @routes.delete("/{id}", status_code=204)
    async def archive(
        request: Request,
        company_id: CompanyId,
        id: str,
        key: Annotated[ApiKey, Depends(write)],
        idempotency_key: IdempotencyKey = None,
        dry_run: DryRun = False,
    ) -> Response:
        _idempotency_key(idempotency_key)  # archiving is idempotent itself; the key is asked for all the same
        await application.archive_party(request.app.state.context, kind, company_id, id, dry_run=dry_run)
        return Response(status_code=204)

    return routes
