"""What every CRM connector shares: the record type, the errors, paging, and the HTTP behaviour.

A connector is declared by class attributes (singer-sdk style) plus three small methods — `auth_headers`,
`paginator` and `map_record` (which builds its result with `Connector.record`). `Connector.pages` does the
rest, once for all systems:

- one shared `httpx.AsyncClient`, passed in; the connector never closes it;
- 429 waits `Retry-After` (seconds or an HTTP date; else a "Try again in N seconds" in the body; capped at
  `max_retry_after_s`); 5xx, timeouts, connection errors and unparseable JSON are retried with exponential
  backoff + jitter while the next wait still fits in `retry_budget_s`, then `RetriableError`;
- 401/403 → `CredentialsRejected` at once; other 4xx → `FatalError` carrying the body's message;
- a page whose query parameters were already requested in this read → `FatalError` (never loops);
- an optional per-connector request-rate limit (requests spaced evenly, `RateLimiter`).

The credential is a `SecretStr`: it is read only when headers are built, and every error message and log line
is scrubbed of it (`scrub`), whatever its length.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import re
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_before_delay
from tenacity.wait import wait_exponential_jitter

from registry.clock import now, utc
from registry.fields import Kind

logger = logging.getLogger("connectors.crm")

Raw = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ExternalRecord:
    kind: Kind
    external_id: str
    modified_at: datetime | None
    payload: dict[str, object]
    archived: bool
    raw: dict[str, object]


class ConnectorError(Exception):
    """Base of every connector failure; the message names the system and never holds a secret."""

    def __init__(self, message: str, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class RetriableError(ConnectorError):
    """429, 5xx, timeouts, connection errors, broken JSON — still failing when the retry budget ran out."""


class RateLimited(RetriableError):
    def __init__(self, message: str, response: httpx.Response, retry_after: float | None) -> None:
        super().__init__(message, response)
        self.retry_after = retry_after


class FatalError(ConnectorError):
    """Retrying will not help: other 4xx, a repeating page, an unexpected envelope."""


class CredentialsRejected(FatalError):
    """401/403. str(e) == "credentials rejected by <display name>"."""


class Paginator(Protocol):
    def first(self) -> dict[str, str]: ...

    def get_next(self, response: httpx.Response, records: list[Raw]) -> dict[str, str] | None: ...


# ----------------------------------------------------------------------------------------------- helpers

_BODIES: weakref.WeakKeyDictionary[httpx.Response, object] = weakref.WeakKeyDictionary()


def json_body(response: httpx.Response) -> object:
    """The parsed JSON of a page response (parsed once by `Connector`, cached here for paginators)."""
    try:
        return _BODIES[response]
    except KeyError:
        return response.json()  # (parsed by `Connector` before: a body nested too deeply never gets here)


def parse_datetime(value: object) -> datetime | None:
    """ISO-8601 text → tz-aware UTC datetime; a naive time is taken as UTC; unparseable → None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return utc(parsed).astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """`since` as the sources expect it in filters: 2024-01-31T09:15:00Z (a naive datetime counts as UTC)."""
    return utc(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def first_filled(*values: object) -> object:
    """The first value that is not None or an empty/blank string; else None."""
    for value in values:
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        return value
    return None


def nested(value: object, *keys: str) -> object:
    """value[k1][k2]… or None when any level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


_TRY_AGAIN = re.compile(r"try again in\s+(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds (delta or HTTP date), else "Try again in N seconds" in the body, else None."""
    header = response.headers.get("Retry-After")
    if header:
        header = header.strip()
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, (utc(when) - now()).total_seconds())
    match = _TRY_AGAIN.search(response.text[:2000])
    return float(match.group(1)) if match else None


def _error_details(response: httpx.Response) -> str:
    """The message of an error body: e-conomic's message/developerHint/errors, Visma's DeveloperErrorMessage,
    or a generic message/error/detail; plain text when the body is not JSON."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return response.text.strip()[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    parts: list[str] = []
    for key in (
        "message",
        "Message",
        "DeveloperErrorMessage",
        "error_description",
        "error",
        "detail",
        "title",
    ):
        if isinstance(body.get(key), str) and body[key]:
            parts.append(body[key])
            break
    hint = body.get("developerHint")
    if isinstance(hint, str) and hint:
        parts.append(f"({hint})")
    errors = _flatten_errors(body.get("errors"))
    if errors:
        parts.append("errors: " + "; ".join(errors))
    return " ".join(parts)[:1000] if parts else str(body)[:300]


def _flatten_errors(errors: object, prefix: str = "") -> list[str]:
    """e-conomic `errors` ({prop: {errors: [{message}]}, lines: [{arrayIndex, …}]}) or a list of text."""
    if isinstance(errors, str):
        return [f"{prefix}{errors}"]
    if isinstance(errors, list):
        out: list[str] = []
        for item in errors:
            if isinstance(item, dict) and "arrayIndex" in item:
                rest = {k: v for k, v in item.items() if k != "arrayIndex"}
                out += _flatten_errors(rest, f"{prefix.rstrip('.')}[{item['arrayIndex']}].")
            elif isinstance(item, dict) and isinstance(item.get("message"), str):
                out.append(f"{prefix.rstrip('.')}: {item['message']}" if prefix else item["message"])
            else:
                out += _flatten_errors(item, prefix)
        return out
    if isinstance(errors, dict):
        out = []
        for key, value in errors.items():
            if key == "errors":
                out += _flatten_errors(value, prefix)
            else:
                out += _flatten_errors(value, f"{prefix}{key}.")
        return out
    return []


# A secret at least this long is replaced wherever it occurs; a shorter one only where it stands on its own.
_SCRUB_ANYWHERE = 8
_WORD = "A-Za-z0-9"


def _occurrences(secret: str) -> re.Pattern[str]:
    """Where `secret` is scrubbed: anywhere when it is long; else where it is not part of a longer word or
    number ("%3D", a URL-encoded separator, before it counts as a boundary)."""
    if len(secret) >= _SCRUB_ANYWHERE:
        return re.compile(re.escape(secret))
    before = rf"(?:(?<![{_WORD}])|(?<=%[0-9A-Fa-f]{{2}}))" if re.match(f"[{_WORD}]", secret) else ""
    after = rf"(?![{_WORD}])" if re.search(f"[{_WORD}]$", secret) else ""
    return re.compile(before + re.escape(secret) + after)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret (also URL-encoded) replaced by "***", whatever its length.

    A secret of 8 characters or more is replaced wherever it occurs. A shorter one is replaced only where it
    is a whole word of the text, not inside a longer word or number: a 1-character key replaced everywhere
    would turn every message into asterisks, and one of 3 characters would cut words apart. That is
    acceptable: inside a longer word such a key cannot be told from the text around it (nothing there marks it
    as the key), and a key that short falls to a few thousand guesses anyway; standing on its own, the way a
    server echoes a key back ("key 'k3y' is invalid", "?key=k3y"), it is scrubbed like any other."""
    values = {v for secret in secrets if secret for v in (secret, quote(secret, safe=""))}
    for value in sorted(values, key=len, reverse=True):  # the longest first: a secret may contain a shorter one
        text = _occurrences(value).sub("***", text)
    return text


class RateLimiter:
    """Spaces requests evenly: at most `per_minute` starts in any minute, one every 60/per_minute seconds."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            wait = self._next - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            # from the later of the planned and the actual start: a late wake-up never shortens the next gap
            self._next = max(self._next, time.monotonic()) + self.interval


class PageNumberPaginator:
    """`page`/`size` query parameters. `is_last(response, records)` decides from the envelope (True/False);
    when it returns None or is not given, an empty or short page is the last."""

    def __init__(
        self,
        page_param: str,
        size_param: str,
        page_size: int,
        *,
        first_page: int = 1,
        extra: dict[str, str] | None = None,
        is_last: Callable[[httpx.Response, list[Raw]], bool | None] | None = None,
    ) -> None:
        self.page_param, self.size_param, self.page_size = page_param, size_param, page_size
        self.page = first_page
        self.extra = extra or {}
        self.is_last = is_last

    def params(self) -> dict[str, str]:
        return {**self.extra, self.page_param: str(self.page), self.size_param: str(self.page_size)}

    def first(self) -> dict[str, str]:
        return self.params()

    def get_next(self, response: httpx.Response, records: list[Raw]) -> dict[str, str] | None:
        last = self.is_last(response, records) if self.is_last is not None else None
        if last is None:
            last = len(records) < self.page_size
        if last or not records:
            return None
        self.page += 1
        return self.params()


def last_by_page_count(envelope: str, page: str, pages: str) -> Callable[[httpx.Response, list[Raw]], bool | None]:
    """A `PageNumberPaginator.is_last` that reads the page number and the page count in the envelope
    (body[envelope][page] and body[envelope][pages]), so a server that caps the page size still pages right;
    None when the envelope has no such numbers."""

    def is_last(response: httpx.Response, records: list[Raw]) -> bool | None:
        body = json_body(response)
        current, total = nested(body, envelope, page), nested(body, envelope, pages)
        if isinstance(current, int) and isinstance(total, int):
            return current >= total
        return None

    return is_last


# ----------------------------------------------------------------------------------------------- connector


class Connector:
    name: ClassVar[str]
    display_name: ClassVar[str]
    kinds: ClassVar[tuple[Kind, ...]]
    paths: ClassVar[dict[Kind, str]]
    records_path: ClassVar[str]
    # Other envelope keys tolerated where the list may be, and whether a bare JSON list is a valid page.
    alt_records_paths: ClassVar[tuple[str, ...]] = ()
    bare_list_pages: ClassVar[bool] = False
    # The source's modified-time field: each record's `modified_at`, and what an incremental read filters (or
    # sorts) by.
    replication_key: ClassVar[str]
    max_page_size: ClassVar[int]
    default_page_size: ClassVar[int | None] = None  # None: max_page_size
    default_rate_per_minute: ClassVar[float | None]
    # The source cannot filter by modified time: drop records older than `since` after reading.
    filters_since_client_side: ClassVar[bool] = False

    def __init__(
        self,
        base_url: str,
        credential: SecretStr,
        http: httpx.AsyncClient,
        *,
        page_size: int | None = None,
        rate_per_minute: float | None = None,
        max_retry_after_s: float = 60.0,
        retry_budget_s: float = 120.0,
        **options: Any,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.http = http
        size = page_size or self.default_page_size or self.max_page_size
        self.page_size = max(1, min(size, self.max_page_size))
        rate = rate_per_minute if rate_per_minute is not None else self.default_rate_per_minute
        self.limiter = RateLimiter(rate) if rate and math.isfinite(rate) and rate > 0 else None
        self.max_retry_after_s = max_retry_after_s
        self.retry_budget_s = retry_budget_s
        self.backoff_initial_s = 0.5
        self.backoff_max_s = 15.0
        self._secrets: list[str] = []
        self._set_options(**options)

    def _set_options(self) -> None:
        """Take a connector's own mapping options (the keyword arguments of `__init__` and `parse_saved_page`
        beyond the base's); a connector that has some overrides this with them as keyword-only parameters."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    # --- what a system declares -----------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def paginator(self, kind: Kind, since: datetime | None) -> Paginator:
        raise NotImplementedError

    def map_record(self, raw: dict[str, object], kind: Kind) -> ExternalRecord | None:
        raise NotImplementedError

    async def prepare(self) -> None:
        """Called before a read starts (e.g. a login that yields a session id)."""

    def record(
        self, kind: Kind, key: object, raw: Raw, payload: dict[str, object], *, archived: bool
    ) -> ExternalRecord:
        """`map_record`'s result: `key` is the record's id in the source, its modified time the
        `replication_key` field."""
        return ExternalRecord(
            kind=kind,
            external_id=str(key),
            modified_at=parse_datetime(raw.get(self.replication_key)),
            payload=payload,
            archived=archived,
            raw=raw,
        )

    # --- reading ----------------------------------------------------------------------------------------

    async def pages(self, kind: Kind, since: datetime | None = None) -> AsyncIterator[list[ExternalRecord]]:
        """One list of mapped records per page, in page order. Raises ConnectorError subclasses, whose messages
        (which may quote a response body or a URL) are scrubbed of the credential here, once for all."""
        try:
            if kind not in self.kinds:
                raise FatalError(f"{self.display_name} has no {kind}")
            await self.prepare()
            url = self.base_url + self.paths[kind]
            paginator = self.paginator(kind, since)
            params: dict[str, str] | None = paginator.first()
            seen: set[tuple[tuple[str, str], ...]] = set()
            while params is not None:
                key = tuple(sorted(params.items()))
                if key in seen:
                    raise FatalError(f"{self.display_name} returned the same page twice ({self.paths[kind]}?{params})")
                seen.add(key)
                response, body = await self.request_json("GET", url, params=params)
                raws = self.extract_records(body)
                yield self._map_page(raws, kind, since)
                params = paginator.get_next(response, raws)
        except ConnectorError as exc:
            exc.args = (self._scrub(str(exc)),)
            raise

    def _map_page(self, raws: list[Raw], kind: Kind, since: datetime | None) -> list[ExternalRecord]:
        records = [record for raw in raws if (record := self.map_record(raw, kind)) is not None]
        if since is not None and self.filters_since_client_side:
            bound = utc(since)
            records = [r for r in records if r.modified_at is None or r.modified_at >= bound]
        return records

    def extract_records(self, body: object) -> list[Raw]:
        """The record list of a page: body[records_path] (or an alternative key), or an allowed bare list."""
        records: object = None
        if isinstance(body, list) and self.bare_list_pages:
            records = body
        elif isinstance(body, dict):
            for path in (self.records_path, *self.alt_records_paths):
                if path in body:
                    records = body[path]
                    break
        if not isinstance(records, list) or not all(isinstance(item, dict) for item in records):
            shape = sorted(body)[:8] if isinstance(body, dict) else type(body).__name__
            raise FatalError(f"{self.display_name} returned an unexpected page envelope: {shape}")
        return records

    @classmethod
    def parse_saved_page(cls, data: object, kind: Kind, **options: Any) -> list[ExternalRecord]:
        """Map a saved JSON page of this API (or a bare list of its records) without any HTTP."""
        mapper = cls.__new__(cls)
        mapper._set_options(**options)
        raws = data if isinstance(data, list) else None
        if raws is None or not all(isinstance(item, dict) for item in raws):
            raws = mapper.extract_records(data)
        return [record for raw in raws if (record := mapper.map_record(raw, kind)) is not None]

    # --- HTTP -------------------------------------------------------------------------------------------

    async def request_json(
        self, method: str, url: str, *, params: dict[str, str] | None = None, json: object = None
    ) -> tuple[httpx.Response, object]:
        """One logical request with the shared retry/limit/error behaviour → (response, parsed JSON)."""
        started = time.monotonic()
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RetriableError),
            stop=stop_before_delay(self.retry_budget_s),
            wait=self._wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(method, url, params, json)
        except RetriableError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise RetriableError(
                f"{exc} (gave up after {attempts} attempt(s) in {time.monotonic() - started:.1f}s)",
                exc.response,
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, method: str, url: str, params: dict[str, str] | None, json: object
    ) -> tuple[httpx.Response, object]:
        if self.limiter is not None:
            await self.limiter.acquire()
        headers = {"Accept": "application/json", **self.auth_headers()}
        try:
            response = await self.http.request(method, url, params=params, json=json, headers=headers)
        except httpx.UnsupportedProtocol as exc:
            raise FatalError(f"{self.display_name}: unsupported URL {url!r}") from exc
        except httpx.TimeoutException as exc:
            raise RetriableError(f"{self.display_name}: request timed out ({type(exc).__name__})") from exc
        except httpx.RequestError as exc:
            raise RetriableError(f"{self.display_name}: connection failed ({type(exc).__name__})") from exc
        status = response.status_code
        if status in (401, 403):
            raise CredentialsRejected(f"credentials rejected by {self.display_name}", response)
        if status == 429:
            raise RateLimited(
                f"{self.display_name}: HTTP 429 rate limited: {self._scrub(_error_details(response))}",
                response,
                retry_after_seconds(response),
            )
        if status >= 500:
            raise RetriableError(f"{self.display_name}: HTTP {status} {response.reason_phrase}", response)
        if status >= 400:
            details = self._scrub(_error_details(response))
            raise FatalError(f"{self.display_name}: HTTP {status} {response.reason_phrase}: {details}", response)
        if not 200 <= status < 300:
            raise FatalError(f"{self.display_name}: unexpected HTTP {status} {response.reason_phrase}", response)
        try:
            body = response.json()
        except ValueError as exc:
            raise RetriableError(f"{self.display_name}: unparseable JSON in HTTP {status} response", response) from exc
        except RecursionError:  # asking again gets the same answer
            raise FatalError(f"{self.display_name}: the answer's JSON is nested too deeply", response) from None
        _BODIES[response] = body
        return response, body

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after_s)
        backoff = wait_exponential_jitter(
            multiplier=self.backoff_initial_s, max=self.backoff_max_s, jitter=self.backoff_initial_s
        )
        return float(backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        logger.warning("%s; retry %d in %.2fs", self._scrub(str(exc)), state.attempt_number, state.upcoming_sleep)

    def remember_secret(self, value: str) -> None:
        """A further secret (e.g. a session id) to keep out of error messages."""
        self._secrets.append(value)

    def _scrub(self, text: str) -> str:
        secret = self.credential.get_secret_value()
        return scrub(text, [secret, *secret.split(":"), *self._secrets])
