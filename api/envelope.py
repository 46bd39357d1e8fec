"""The registry API's envelope: `{"data": …, "meta": {"request_id", "api_version", …}}`, and `{"error": {"code",
"message", "field"}, "meta": …}` for every refusal, whatever raised it. No trace or SQL ever reaches a client."""

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import to_json
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobs.errors import (
    AllOrNothingNotImplemented,
    BulkCreateError,
    IdempotencyKeyInFlight,
    NotFound,
    Refused,
    RunError,
    SourceError,
    UploadTooLarge,
)

API_VERSION = "2026-05-12"
log = logging.getLogger("rostersync.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def meta(request: Request, **more: Any) -> dict[str, Any]:
    return {"request_id": request.state.request_id, "api_version": API_VERSION, **more}


def ok(request: Request, data: Any, status: int = 200, **more: Any) -> JSONResponse:
    return JSONResponse({"data": jsonable_encoder(data), "meta": meta(request, **more)}, status_code=status)


def ok_plain(request: Request, data: Any) -> Response:
    """`ok` for data of JSON's own types only (str, int, bool, None, list, dict; no floats): the same bytes, serialised
    in one pass in Rust rather than walked by `jsonable_encoder` and then by `json.dumps`."""
    body = to_json({"data": data, "meta": meta(request)})
    return Response(body, media_type="application/json")


def refusal(request: Request, status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return JSONResponse({"error": error, "meta": meta(request)}, status_code=status)


_HTTP_CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "TOO_LARGE"}


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses a request body over `limit(path)` bytes with 413, whether it says its length or comes in chunks;
    `refusal(path)` says why."""

    def __init__(self, app: ASGIApp, limit: Callable[[str], int], refusal: Callable[[str], str]) -> None:
        self.app, self.limit, self.refusal = app, limit, refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > limit:
            return await self._refuse(scope, receive, send)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id")
        body = {"error": {"code": "TOO_LARGE", "message": self.refusal(scope["path"])},
                "meta": {"request_id": request_id, "api_version": API_VERSION}}  # fmt: skip
        await JSONResponse(body, status_code=413)(scope, receive, send)


class RequestIds:
    """A request id for every request, in `request.state` and the `X-Request-Id` header, and a log line for each
    request (the path only: a query string may hold a personnummer, a search). Plain ASGI: the body streams
    through untouched, as an upload needs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = "req_" + secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.info("%s %s %s %d %.0f ms", request_id, scope["method"], scope["path"], status,
                     (time.perf_counter() - started) * 1000)  # fmt: skip


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    response = refusal(request, exc.status, exc.code, exc.message, exc.field)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    where = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    field = ".".join(where) or None
    return refusal(request, 422, "VALIDATION_ERROR", f"{field or 'request'}: {first.get('msg')}", field)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "VALIDATION_ERROR" if exc.status_code < 500 else "INTERNAL_ERROR")
    return refusal(request, exc.status_code, code, str(exc.detail))


async def _change_refused(request: Request, exc: Refused) -> JSONResponse:
    error = exc.error
    status = 409 if error["code"].endswith("_DUPLICATE_ORG_NUMBER") else 422
    return refusal(request, status, error["code"], error["message"], next(iter(error.get("fields") or {}), None))


async def _bulk_refused(request: Request, exc: BulkCreateError) -> JSONResponse:
    statuses = {AllOrNothingNotImplemented: 501, IdempotencyKeyInFlight: 409}
    return refusal(request, statuses.get(type(exc), 422), exc.code, str(exc))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("request %s failed: %s", request.state.request_id, type(exc).__name__)
    message = f"the request could not be completed (request id {request.state.request_id})"
    return refusal(request, 500, "INTERNAL_ERROR", message)


def _plain(status: int, code: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """A handler answering `status` and `code` with the exception's own message."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return refusal(request, status, code, str(exc))

    return handle


_HANDLERS: dict[type[Exception], Callable[..., Awaitable[JSONResponse]]] = {
    ApiError: _api_error,
    RequestValidationError: _invalid,
    HTTPException: _http_error,
    NotFound: _plain(404, "NOT_FOUND"),
    Refused: _change_refused,
    SourceError: _plain(422, "VALIDATION_ERROR"),
    UploadTooLarge: _plain(413, "TOO_LARGE"),
    RunError: _plain(400, "VALIDATION_ERROR"),
    BulkCreateError: _bulk_refused,
    Exception: _unexpected,
}


Page = Callable[[Request, int, str], Awaitable[Response]]  # a refusal (status, message) as a page


def _paged(
    handler: Callable[..., Awaitable[JSONResponse]], pages: str, page: Page
) -> Callable[..., Awaitable[Response]]:
    """`handler`, whose refusal a request for a page under `pages` gets as that page: the same status and words."""

    async def handle(request: Request, exc: Exception) -> Response:
        answer = await handler(request, exc)
        if not request.url.path.startswith(pages):
            return answer
        return await page(request, answer.status_code, json.loads(bytes(answer.body))["error"]["message"])

    return handle


def install(
    app: FastAPI, max_body: Callable[[str], int], too_large: Callable[[str], str], pages: tuple[str, Page]
) -> None:
    """A request id on every request and response; every exception turned into the error envelope (into a page
    for a path under `pages[0]`); bodies over `max_body(path)` bytes refused, saying `too_large(path)`."""
    app.add_middleware(BodyLimit, limit=max_body, refusal=too_large)
    app.add_middleware(RequestIds)
    for exception, handler in _HANDLERS.items():
        app.add_exception_handler(exception, _paged(handler, *pages))
