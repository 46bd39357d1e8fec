"""Fake CRM servers on 127.0.0.1 for the connector tests and the sync benchmark.

One framework (`FakeCRM`: a stdlib ThreadingHTTPServer on port 0 in a daemon thread, HTTP/1.1 keep-alive) and
one `FakeSystem` per API that knows only that API's shape: routes, auth headers, paging parameters,
incremental filter, page envelope and error bodies. Shared behaviour lives in `FakeCRM`:

- a mutable record store per collection (`fake.records["customers"]`, `add`, `change` — `change` bumps the
  record's modified time so the next incremental sync sees it);
- failure injection, by 1-based page ordinal (e-conomic skippages=0 is page 1): `latency_s` per page,
  `fail_pages={7: [500, 500], 3: ["broken_json"], 2: [429]}` (each request for that page takes the next
  failure; also "disconnect", "deep_json" and "sleep:<s>"), `die_at_page` (every request for it fails with 500),
  `retry_after` (the Retry-After header sent with injected 429s; None = none), `expire_credentials()`;
- bookkeeping: `requests` (every request seen, in order) and `max_concurrent`.

    with FakeCRM(EconomicFake(), {"customers": [economic_customer(i) for i in range(20_000)]},
                 latency_s=0.05) as fake:
        connector = EconomicConnector(fake.url, SecretStr(ECONOMIC_CREDENTIAL), client)
        # client: httpx.AsyncClient(trust_env=False) — no proxy for 127.0.0.1
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from registry.clock import utc
from tests.fakes.recorded import recorded
from tests.fakes.rows import vat_number

Record = dict[str, Any]
Failure = int | str

ECONOMIC_APP_SECRET = "fake-app-secret-token"
ECONOMIC_GRANT = "fake-agreement-grant-token"
ECONOMIC_CREDENTIAL = f"{ECONOMIC_APP_SECRET}:{ECONOMIC_GRANT}"
FAKTOORA_API_KEY = "fake-faktoora-api-key"
LEMONSOFT_SESSION = "fake-lemonsoft-session-0001"
LEMONSOFT_LOGIN = "api-user:s3cret:pass:DEMO_DB:fake-lemonsoft-apikey"  # username:password:database:apikey
EACCOUNTING_TOKEN = "fake-eaccounting-access-token"

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class HttpError(Exception):
    """Raised by a FakeSystem to answer with this status and JSON body."""

    def __init__(self, status: int, body: object) -> None:
        super().__init__(status)
        self.status, self.body = status, body


@dataclass
class PageRequest:
    number: int  # 1-based ordinal of the page
    offset: int
    size: int


@dataclass
class Page:
    """What a page envelope is built from."""

    collection: str
    records: list[Record]  # this page's records
    selected: list[Record]  # every record matching the query
    total: int  # records in the collection, without filter
    req: PageRequest
    query: dict[str, str]
    url: str  # the fake's base URL


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    page: int | None
    at: float  # time.monotonic() on arrival
    status: int = 0


# ----------------------------------------------------------------------------------------------- systems


class FakeSystem:
    """One API's shape. Subclasses set the class attributes and override what differs."""

    base_path: ClassVar[str] = ""
    routes: ClassVar[dict[str, str]]  # path (after base_path) → record collection
    key_fields: ClassVar[dict[str, str]]  # collection → primary key field
    modified_field: ClassVar[str]

    def authorized(self, headers: dict[str, str]) -> bool:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> object:
        return {"message": message, "httpStatusCode": status}

    def rate_limited_body(self) -> object:
        return self.error_body(429, "Too many requests.")

    def page_request(self, query: dict[str, str]) -> PageRequest:
        raise NotImplementedError

    def select(self, collection: str, records: list[Record], query: dict[str, str]) -> list[Record]:
        return records

    def envelope(self, page: Page) -> object:
        raise NotImplementedError

    def post(self, path: str, body: object) -> tuple[int, object]:
        raise HttpError(404, self.error_body(404, "Resource not found."))

    def format_time(self, moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(query: dict[str, str], name: str, default: int, error: Any) -> int:
    try:
        return int(query.get(name, default))
    except ValueError:
        raise HttpError(400, error(400, f"{name} must be an integer.")) from None


def _modified_since(records: list[Record], field_name: str, bound: datetime, strict: bool) -> list[Record]:
    def newer(record: Record) -> bool:
        value = record.get(field_name)
        if not value:
            return False
        moment = utc(datetime.fromisoformat(value))
        return moment > bound if strict else moment >= bound

    return [r for r in records if newer(r)]


def _parse_time(text: str, error: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HttpError(400, error(400, f"Invalid date-time {text!r}.")) from None
    return utc(moment)


class EconomicFake(FakeSystem):
    """restapi.e-conomic.com: /customers, /suppliers; skippages/pagesize; filter=lastUpdated$gt:<iso>."""

    routes: ClassVar[dict[str, str]] = {"/customers": "customers", "/suppliers": "suppliers"}
    key_fields: ClassVar[dict[str, str]] = {"customers": "customerNumber", "suppliers": "supplierNumber"}
    modified_field = "lastUpdated"

    def __init__(self, app_secret: str = ECONOMIC_APP_SECRET, grant: str = ECONOMIC_GRANT) -> None:
        self.app_secret, self.grant = app_secret, grant
        self.repeat_next_page = False  # nextPage points at the page just served (a looping server)

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("x-appsecrettoken") == self.app_secret and headers.get("x-agreementgranttoken") == self.grant

    def error_body(self, status: int, message: str) -> object:
        hints = {
            401: "Provide valid X-AppSecretToken and X-AgreementGrantToken headers.",
            400: "Inspect the query.",
        }
        return {
            "message": message,
            "developerHint": hints.get(status, "See https://restdocs.e-conomic.com."),
            "logId": "fake-log-id",
            "httpStatusCode": status,
            "logTime": "2024-10-24T14:26:57",
        }

    def page_request(self, query: dict[str, str]) -> PageRequest:
        skip = _int(query, "skippages", 0, self.error_body)
        size = _int(query, "pagesize", 20, self.error_body)
        if not 1 <= size <= 1000 or skip < 0:
            raise HttpError(400, self.error_body(400, "pagesize must be between 1 and 1000."))
        return PageRequest(skip + 1, skip * size, size)

    def select(self, collection: str, records: list[Record], query: dict[str, str]) -> list[Record]:
        expression = query.get("filter")
        if not expression:
            return records
        for op, strict in (("$gt:", True), ("$gte:", False)):
            prop, sep, value = expression.partition(op)
            if sep and prop == "lastUpdated" and collection == "customers":
                return _modified_since(records, "lastUpdated", _parse_time(value, self.error_body), strict)
        body = {
            "message": "Could not parse query string filter.",
            "developerHint": "Use the allowed operators and allowed filtering fields.",
            "logId": "fake-log-id",
            "httpStatusCode": 400,
            "errors": [f"Filtering is not allowed on {expression!r}."],
        }
        raise HttpError(400, body)

    def envelope(self, page: Page) -> object:
        req, query, size = page.req, page.query, page.req.size
        last = max(0, (len(page.selected) - 1) // size)

        def link(skip: int) -> str:
            params: dict[str, object] = {"skippages": skip, "pagesize": size}
            if query.get("filter"):
                params["filter"] = query["filter"]
            return f"{page.url}/{page.collection}?{urlencode(params)}"

        pagination: Record = {
            "maxPageSizeAllowed": 1000,
            "skipPages": req.number - 1,
            "pageSize": size,
            "results": len(page.selected),
            "resultsWithoutFilter": page.total,
            "firstPage": link(0),
        }
        if self.repeat_next_page:
            pagination["nextPage"] = link(req.number - 1)
        elif req.number - 1 < last:
            pagination["nextPage"] = link(req.number)
        pagination["lastPage"] = link(last)
        body: Record = {"collection": page.records, "pagination": pagination}
        if page.collection == "customers":
            create = {"description": "Create a new customer", "href": link(0), "httpMethod": "post"}
            body["metaData"] = {"create": create}
        body["self"] = link(req.number - 1)
        return body


class FaktooraFake(FakeSystem):
    """api.faktoora.com/api/v1: /customers; page/perPage/sort/order; envelope {"data", "meta"} (our guess)."""

    base_path = "/api/v1"
    routes: ClassVar[dict[str, str]] = {"/customers": "customers"}
    key_fields: ClassVar[dict[str, str]] = {"customers": "id"}
    modified_field = "updatedAt"

    def __init__(self, api_key: str = FAKTOORA_API_KEY, *, bare_list: bool = False) -> None:
        self.api_key, self.bare_list = api_key, bare_list

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("x-api-key") == self.api_key

    def error_body(self, status: int, message: str) -> object:
        return {"statusCode": status, "message": message}

    def page_request(self, query: dict[str, str]) -> PageRequest:
        page = max(1, _int(query, "page", 1, self.error_body))
        size = min(1000, max(1, _int(query, "perPage", 25, self.error_body)))  # clamped silently
        return PageRequest(page, (page - 1) * size, size)

    def select(self, collection: str, records: list[Record], query: dict[str, str]) -> list[Record]:
        sort = query.get("sort")
        if not sort:
            return records
        return sorted(records, key=lambda r: r.get(sort) or "", reverse=query.get("order") == "desc")

    def envelope(self, page: Page) -> object:
        if self.bare_list:
            return page.records
        pages = max(1, -(-len(page.selected) // page.req.size))
        meta = {
            "page": page.req.number,
            "perPage": page.req.size,
            "total": len(page.selected),
            "totalPages": pages,
        }
        return {"data": page.records, "meta": meta}

    def format_time(self, moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class LemonsoftFake(FakeSystem):
    """Lemonsoft: /api/customers with filter.*; Session-Id; POST /api/auth/login."""

    routes: ClassVar[dict[str, str]] = {"/api/customers": "customers"}
    key_fields: ClassVar[dict[str, str]] = {"customers": "number"}
    modified_field = "modified"

    def __init__(self, session_id: str = LEMONSOFT_SESSION, login: str = LEMONSOFT_LOGIN) -> None:
        self.session_id = session_id
        username, rest = login.split(":", 1)
        password, database, apikey = rest.rsplit(":", 2)
        self.login = {"username": username, "password": password, "database": database, "apikey": apikey}

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("session-id") == self.session_id

    def error_body(self, status: int, message: str) -> object:
        return {"code": status, "message": message}

    def post(self, path: str, body: object) -> tuple[int, object]:
        if path != "/api/auth/login":
            return super().post(path, body)
        if body != self.login:
            return 401, self.error_body(401, "Invalid credentials")
        return 200, {"code": 200, "message": "ok", "session_id": self.session_id}

    def page_request(self, query: dict[str, str]) -> PageRequest:
        page = max(1, _int(query, "filter.page", 1, self.error_body))
        size = max(1, _int(query, "filter.page_size", 10, self.error_body))
        return PageRequest(page, (page - 1) * size, size)

    def select(self, collection: str, records: list[Record], query: dict[str, str]) -> list[Record]:
        for flag in ("is_customer", "is_supplier"):
            if query.get(f"filter.{flag}") == "1":
                records = [r for r in records if r.get(flag)]
        if "filter.modified_after" in query:
            bound = _parse_time(query["filter.modified_after"], self.error_body)
            records = _modified_since(records, "modified", bound, strict=True)
        return records

    def envelope(self, page: Page) -> object:
        return {"results": page.records, "result_count": len(page.records)}

    def format_time(self, moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class EAccountingFake(FakeSystem):
    """Visma eAccounting v2: /v2/customers; $page/$pagesize/$filter=ChangedUtc gt <iso>; Meta/Data."""

    routes: ClassVar[dict[str, str]] = {"/v2/customers": "customers"}
    key_fields: ClassVar[dict[str, str]] = {"customers": "Id"}
    modified_field = "ChangedUtc"

    def __init__(self, token: str = EACCOUNTING_TOKEN, *, max_page_size: int = 1000) -> None:
        self.token, self.max_page_size = token, max_page_size

    def authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") == f"Bearer {self.token}"

    def error_body(self, status: int, message: str) -> object:
        return {
            "ErrorCode": 4000 + status % 100,
            "DeveloperErrorMessage": message,
            "ErrorId": "fake-error-id",
        }

    def rate_limited_body(self) -> object:
        return recorded("eaccounting_error_429.json")

    def page_request(self, query: dict[str, str]) -> PageRequest:
        page = max(1, _int(query, "$page", 1, self.error_body))
        size = min(self.max_page_size, max(1, _int(query, "$pagesize", 50, self.error_body)))
        return PageRequest(page, (page - 1) * size, size)

    def select(self, collection: str, records: list[Record], query: dict[str, str]) -> list[Record]:
        expression = query.get("$filter")
        if not expression:
            return records
        parts = expression.split(" ", 2)
        if len(parts) != 3 or parts[0] != "ChangedUtc" or parts[1] not in ("gt", "ge"):
            raise HttpError(400, self.error_body(400, f"Unsupported $filter {expression!r}"))
        return _modified_since(records, "ChangedUtc", _parse_time(parts[2], self.error_body), parts[1] == "gt")

    def envelope(self, page: Page) -> object:
        meta = {
            "CurrentPage": page.req.number,
            "PageSize": page.req.size,
            "TotalNumberOfPages": max(1, -(-len(page.selected) // page.req.size)),
            "TotalNumberOfResults": len(page.selected),
            "ServerTimeUtc": self.format_time(datetime.now(UTC)),
        }
        return {"Meta": meta, "Data": page.records}


# ----------------------------------------------------------------------------------------------- server


@dataclass
class FakeCRM:
    system: FakeSystem
    records: dict[str, list[Record]] = field(default_factory=dict)
    latency_s: float = 0.0
    fail_pages: dict[int, list[Failure]] = field(default_factory=dict)
    die_at_page: int | None = None
    retry_after: str | None = "1"
    requests: list[SeenRequest] = field(default_factory=list)
    max_concurrent: int = 0

    def __post_init__(self) -> None:
        for collection in self.system.routes.values():
            self.records.setdefault(collection, [])
        self._lock = threading.Lock()
        self._in_flight = 0
        self._expired = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------

    def __enter__(self) -> FakeCRM:
        handler = type("Handler", (_Handler,), {"crm": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-crm", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def host(self) -> str:
        assert self._server is not None, "use FakeCRM as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The base URL a connector is configured with."""
        return self.host + self.system.base_path

    # --- test controls --------------------------------------------------------------------------------

    def expire_credentials(self) -> None:
        self._expired = True

    def add(self, collection: str, record: Record) -> Record:
        self.records[collection].append(record)
        return record

    def change(self, collection: str, key: object, *, at: datetime | None = None, **fields: Any) -> Record:
        """Update a record's fields and bump its modified time (default: now)."""
        for record in self.records[collection]:
            if record.get(self.system.key_fields[collection]) == key:
                record.update(fields)
                record[self.system.modified_field] = self.system.format_time(at or datetime.now(UTC))
                return record
        raise KeyError(key)

    def page_requests(self, path: str | None = None) -> list[SeenRequest]:
        return [r for r in self.requests if r.page is not None and (path is None or r.path.endswith(path))]

    # --- serving ----------------------------------------------------------------------------------------

    def _next_failure(self, page: int) -> Failure | None:
        if self.die_at_page == page:
            return 500
        with self._lock:
            queue = self.fail_pages.get(page)
            return queue.pop(0) if queue else None

    def serve(self, handler: _Handler, method: str) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)
        split = urlsplit(handler.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        seen = SeenRequest(method, split.path, query, headers, None, time.monotonic())
        self.requests.append(seen)
        try:
            seen.status = self._respond(handler, method, split.path, query, headers, seen)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _respond(
        self,
        handler: _Handler,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        seen: SeenRequest,
    ) -> int:
        system = self.system
        length = int(headers.get("content-length") or 0)
        raw_body = handler.rfile.read(length) if length else b""
        if not path.startswith(system.base_path):
            return handler.send_json(404, system.error_body(404, "Resource not found."))
        route = path[len(system.base_path) :]
        try:
            if method == "POST":
                status, body = system.post(route, json.loads(raw_body or b"null"))
                return handler.send_json(status, body)
            collection = system.routes.get(route)
            if collection is None:
                return handler.send_json(404, system.error_body(404, "Resource not found."))
            if self._expired or not system.authorized(headers):
                return handler.send_json(401, system.error_body(401, "Unauthorized."))
            req = system.page_request(query)
            seen.page = req.number
            if self.latency_s:
                time.sleep(self.latency_s)
            failure = self._next_failure(req.number)
            if failure is not None:
                return self._fail(handler, failure)
            all_records = self.records[collection]
            selected = system.select(collection, all_records, query)
            records = selected[req.offset : req.offset + req.size]
            body = system.envelope(Page(collection, records, selected, len(all_records), req, query, self.url))
            return handler.send_json(200, body)
        except HttpError as exc:
            return handler.send_json(exc.status, exc.body)

    def _fail(self, handler: _Handler, failure: Failure) -> int:
        if failure == "broken_json":
            return handler.send_raw(200, b'{"collection": [{"name": "Trunc', "application/json")
        if failure == "deep_json":  # valid JSON, nested deeper than a parser's recursion goes
            return handler.send_raw(200, b"[" * 100_000 + b"]" * 100_000, "application/json")
        if failure == "disconnect":
            handler.close_connection = True
            return 0
        if isinstance(failure, str) and failure.startswith("sleep:"):
            time.sleep(float(failure.split(":", 1)[1]))
            return handler.send_json(500, self.system.error_body(500, "Slow failure."))
        status = int(failure)
        if status == 429:
            extra = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return handler.send_json(429, self.system.rate_limited_body(), extra)
        return handler.send_json(status, self.system.error_body(status, "Injected failure."))


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on an injected slow/broken answer is not an error here


class _Handler(BaseHTTPRequestHandler):
    crm: ClassVar[FakeCRM]
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: without TCP_NODELAY, Nagle + delayed ACK stall each answer ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.crm.serve(self, "GET")

    def do_POST(self) -> None:
        self.crm.serve(self, "POST")

    def send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> int:
        return self.send_raw(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    def send_raw(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> int:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return status

    def log_message(self, format: str, *args: Any) -> None:
        pass


# ----------------------------------------------------------------------------------------------- records


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def swedish_orgnr(i: int) -> str:
    """A valid (Luhn) Swedish organisation number 556xxx-xxxx."""
    body = f"556{(i * 7919) % 1_000_000:06d}"
    return f"{body[:6]}-{body[6:]}{_luhn_digit(body)}"


_ECONOMIC_COUNTRIES = (
    # (code, e-conomic free-text country, vat zone, cities with zip, company suffix, street)
    (
        "DK",
        "Danmark",
        1,
        (("2100", "København Ø"), ("8000", "Aarhus C"), ("5000", "Odense C")),
        "ApS",
        "Vestergade",
    ),
    (
        "SE",
        "Sverige",
        2,
        (("114 18", "Stockholm"), ("411 05", "Göteborg"), ("211 20", "Malmö")),
        "AB",
        "Storgatan",
    ),
    (
        "DE",
        "Tyskland",
        2,
        (("10115", "Berlin"), ("20095", "Hamburg"), ("80331", "München")),
        "GmbH",
        "Hauptstraße",
    ),
    ("NO", "Norge", 3, (("0150", "Oslo"), ("5003", "Bergen"), ("7010", "Trondheim")), "AS", "Storgata"),
)
_WORDS = (
    "Nordlys",
    "Havbryg",
    "Fjeldmark",
    "Kvarnholmen",
    "Rheinblick",
    "Skovly",
    "Ekhagen",
    "Lindenhof",
    "Bølgen",
    "Solvik",
    "Granlund",
    "Birkenau",
    "Østerbro",
    "Strandvik",
    "Elbufer",
    "Tindane",
)
_TRADES = ("Byg", "Logistik", "Konsult", "Handel", "Data", "El-service", "Transport", "Design")


def _when(i: int, modified: datetime | None) -> datetime:
    return modified or EPOCH + timedelta(minutes=i)


def economic_customer(i: int, *, modified: datetime | None = None, barred: bool | None = None) -> Record:
    """A realistic e-conomic customer (GET /customers item): DK/SE/DE/NO companies, every 17th barred."""
    code, country, zone, places, suffix, street = _ECONOMIC_COUNTRIES[i % 4]
    zip_code, city = places[i % 3]
    number = i + 1
    base = "https://restapi.e-conomic.com"
    record: Record = {
        "customerNumber": number,
        "currency": {"DK": "DKK", "SE": "SEK", "DE": "EUR", "NO": "NOK"}[code],
        "paymentTerms": {"paymentTermsNumber": 1 + i % 3, "self": f"{base}/payment-terms/{1 + i % 3}"},
        "customerGroup": {"customerGroupNumber": 1, "self": f"{base}/customer-groups/1"},
        "address": f"{street} {1 + i % 120}",
        "balance": round((i * 37.5) % 10_000, 2),
        "dueAmount": 0.0,
        "city": city,
        "country": country,
        "email": f"faktura{number}@{_WORDS[i % 16].lower()}.example",
        "name": f"{_WORDS[i % 16]} {_TRADES[i % 8]} {suffix}",
        "zip": zip_code,
        "vatZone": {"vatZoneNumber": zone, "self": f"{base}/vat-zones/{zone}"},
        "lastUpdated": _when(i, modified).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "contacts": f"{base}/customers/{number}/contacts",
        "self": f"{base}/customers/{number}",
    }
    if code == "DK" and i % 3 != 2:
        record["corporateIdentificationNumber"] = f"DK{10_000_000 + i * 7 % 89_999_999}"
    if code == "SE":
        orgnr = swedish_orgnr(i)
        record["corporateIdentificationNumber"] = orgnr
        record["vatNumber"] = f"SE{orgnr.replace('-', '')}01"
    if code == "DE" and i % 2 == 0:
        record["vatNumber"] = vat_number("DE", i)  # checksum-valid, one per i
    if i % 5 == 0:
        record["mobilePhone"] = f"+45 {20_000_000 + i:08d}"
    else:
        record["telephoneAndFaxNumber"] = f"{30_000_000 + i:08d}"
    if barred if barred is not None else i % 17 == 16:
        record["barred"] = True
    return record


def economic_supplier(i: int, *, barred: bool | None = None) -> Record:
    """A realistic e-conomic supplier (GET /suppliers item); no lastUpdated, as in the recorded payloads."""
    code, country, zone, places, suffix, street = _ECONOMIC_COUNTRIES[i % 4]
    zip_code, city = places[i % 3]
    number = 100 + i
    base = "https://restapi.e-conomic.com"
    record: Record = {
        "supplierNumber": number,
        "name": f"{_WORDS[(i + 5) % 16]} {_TRADES[(i + 3) % 8]} {suffix}",
        "currency": {"DK": "DKK", "SE": "SEK", "DE": "EUR", "NO": "NOK"}[code],
        "paymentTerms": {"paymentTermsNumber": 5, "self": f"{base}/payment-terms/5"},
        "vatZone": {"vatZoneNumber": zone, "self": f"{base}/vat-zones/{zone}"},
        "supplierGroup": {"supplierGroupNumber": 1, "self": f"{base}/supplier-groups/1"},
        "address": f"{street} {1 + i % 80}",
        "zip": zip_code,
        "city": city,
        "country": country,
        "email": f"ap{number}@supplier.example",
        "phone": f"{40_000_000 + i:08d}",
        "costAccount": {"accountNumber": 2750 + i % 4, "self": f"{base}/accounts/{2750 + i % 4}"},
        "defaultInvoiceText": "",
        "contacts": f"{base}/suppliers/{number}/contacts",
        "layout": {"layoutNumber": 19, "self": f"{base}/layouts/19"},
        "self": f"{base}/suppliers/{number}",
    }
    record["bankAccount"] = f"DK50 0040 0440 {1162 + i:04d} 43" if i % 2 == 0 else f"1234 {5678900 + i}"
    if barred if barred is not None else i % 7 == 6:
        record["barred"] = True
    return record


_DE_PLACES = (
    ("DE", "10115", "Berlin"),
    ("DE", "50667", "Köln"),
    ("AT", "1010", "Wien"),
    ("CH", "8001", "Zürich"),
)


def faktoora_customer(i: int, *, modified: datetime | None = None) -> Record:
    """A faktoora customer: German-speaking companies; every 4th a private person (isCompany false)."""
    country, postcode, city = _DE_PLACES[i % 4]
    created = EPOCH + timedelta(minutes=i)
    record: Record = {
        "id": f"cust_{i:06x}",
        "customerId": f"{i + 1:03d}",
        "isCompany": i % 4 != 3,
        "address": f"Musterstraße {1 + i % 99}",
        "postcode": postcode,
        "city": city,
        "country": country,
        "email": f"rechnung{i}@kunde.example",
        "phoneNo": f"+49 30 {1_000_000 + i}",
        "extras": {},
        "createdAt": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "updatedAt": _when(i, modified).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    if record["isCompany"]:
        record["name"] = f"{_WORDS[i % 16]} {_TRADES[i % 8]} GmbH"
        if i % 2 == 0:
            record["vatId"] = f"DE{123_456_789 + i}"
        record["taxId"] = f"{10 + i % 90}/{100 + i % 900}/{10_000 + i}"
    else:
        record["firstName"], record["lastName"] = ("Anna", "Schmidt") if i % 8 == 3 else ("Jonas", "Weber")
    if i % 6 == 0:
        record["peppolId"] = f"0204:99{i:06d}"
    return record


def lemonsoft_record(i: int, *, modified: datetime | None = None) -> Record:
    """A Lemonsoft customer-register row: Finnish/Swedish companies; every 3rd a supplier (every
    6th both), every 11th non-active."""
    fi = i % 2 == 0
    supplier = i % 3 == 2 or i % 6 == 0
    record: Record = {
        "id": 5000 + i,
        "number": 1000 + i,
        "name": f"{_WORDS[i % 16]} {_TRADES[i % 8]} {'Oy' if fi else 'AB'}",
        "name2": "Huolto" if i % 5 == 0 else "",
        "street": f"{'Mannerheimintie' if fi else 'Drottninggatan'} {1 + i % 60}",
        "street2": "PL 12" if i % 7 == 0 else None,
        "postal_code": "00100" if fi else "111 51",
        "city": "Helsinki" if fi else "Stockholm",
        "country": "FI" if fi else "SE",
        "vat": f"FI{10_000_000 + i}" if fi else f"SE{swedish_orgnr(i).replace('-', '')}01",
        "email": f"laskut{i}@yritys.example",
        "phone": f"+358 9 {100_000 + i}",
        "is_customer": not supplier or i % 6 == 0,
        "is_supplier": supplier,
        "is_nonactive": i % 11 == 10,
        "is_prospect": False,
        "created": (EPOCH + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "modified": _when(i, modified).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "currency_code": "EUR" if fi else "SEK",
        "payment_term_number": 14,
        "accounts": [],
    }
    if supplier:
        record["accounts"] = [
            {
                "account_id": i,
                "customer_id": 5000 + i,
                "iban": f"FI21 1234 5600 {i:06d}",
                "bic": "NDEAFIHH",
                "bank_name": "Nordea",
            }
        ]
    return record


def eaccounting_customer(i: int, *, modified: datetime | None = None) -> Record:
    """A Visma eAccounting CustomerApi (PascalCase): Swedish companies, every 5th a private person, every
    13th inactive."""
    person = i % 5 == 4
    orgnr = swedish_orgnr(i)
    record: Record = {
        "Id": f"00000000-0000-0000-0000-{i:012d}",
        "CustomerNumber": str(i + 1),
        "CorporateIdentityNumber": None if person else orgnr,
        "VatNumber": None if person else f"SE{orgnr.replace('-', '')}01",
        "Name": "Karin Lind" if person else f"{_WORDS[i % 16]} {_TRADES[i % 8]} AB",
        "InvoiceAddress1": f"Storgatan {1 + i % 90}",
        "InvoiceAddress2": "Box 123" if i % 9 == 0 else None,
        "InvoicePostalCode": "11418",
        "InvoiceCity": "Stockholm",
        "InvoiceCountryCode": "SE",
        "CurrencyCode": "SEK",
        "TermsOfPaymentId": "00000000-0000-0000-0000-0000000000aa",
        "IsPrivatePerson": person,
        "IsActive": i % 13 != 12,
        "EmailAddress": f"faktura{i}@exempel.se",
        "Telephone": None if i % 3 == 0 else f"08-{100_000 + i}",
        "MobilePhone": f"070-{1_000_000 + i}",
        "Note": "Kund sedan 2019" if i % 4 == 0 else None,
        "ChangedUtc": _when(i, modified).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return record
