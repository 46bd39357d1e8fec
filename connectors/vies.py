"""Async client for the EU VIES REST API (VAT number validation), best-effort.

Contract: the official swagger (POST /check-vat-number, GET /check-status); base URL
https://ec.europa.eu/taxation_customs/vies/rest-api, no authentication.

* An invalid number is a *result* (`ViesAnswer(valid=False)`), never an error.
* VIES reports most errors in-band: HTTP 200 (sometimes 400/500) with
  `{"actionSucceed": false, "errorWrappers": [{"error": CODE}]}`. Codes that say "try again later" are
  `ViesTransientError` and are retried with jittered exponential backoff inside `retry_budget_s`; the rest
  are `ViesPermanentError` and are never retried.
* Concurrency is capped per member state and overall; concurrent checks of the same number share one lookup.
  A request we stopped waiting for (timeout, cancellation) keeps its state's slot for `timeout_hold_s`
  more: VIES goes on with it, and a request sent in its place would be answered MS_MAX_CONCURRENT_REQ.
* The per-state cap adapts (AIMD): a state that answers MS_MAX_CONCURRENT_REQ(_TIME) or TIMEOUT, or that we
  time out on, gets half as many requests at once (at least one) and a pause (the failed request's slot is
  given back after the backoff); each run of successes gives it one more, up to `per_state_limit`.
* A circuit breaker per member state (and one for VIES as a whole) stops calling after `breaker_threshold`
  consecutive transient failures for `cooldown_s`; meanwhile `check` raises `ViesSkipped` without a call.

No caching and no database access here: callers store results.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from connectors.vies_answers import ViesAnswer, ViesError, ViesPermanentError, ViesSkipped, ViesTransientError
from registry.countries import VIES_PREFIXES

__all__ = [
    "DEFAULT_BASE_URL",
    "ViesAnswer",
    "ViesClient",
    "ViesError",
    "ViesPermanentError",
    "ViesSkipped",
    "ViesTransientError",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://ec.europa.eu/taxation_customs/vies/rest-api"

# Transient codes that concern one member state's system (its breaker) ...
_STATE_CODES: Final = frozenset({"MS_UNAVAILABLE", "MS_MAX_CONCURRENT_REQ", "MS_MAX_CONCURRENT_REQ_TIME", "TIMEOUT"})
# ... and codes that concern VIES as a whole (the global breaker).
_GLOBAL_CODES: Final = frozenset(
    {"SERVICE_UNAVAILABLE", "GLOBAL_MAX_CONCURRENT_REQ", "GLOBAL_MAX_CONCURRENT_REQ_TIME", "SERVER_BUSY"}
)
# VOW-ERR-1 is VIES's answer (HTTP 500) to a malformed request: sending it again cannot help.
_PERMANENT_CODES: Final = frozenset(
    {"INVALID_INPUT", "INVALID_REQUESTER_INFO", "VAT_BLOCKED", "IP_BLOCKED", "VOW-ERR-1"}
)
# Transient codes that say the member state has too much to do: fewer requests at once, and a pause.
_PRESSURE_CODES: Final = frozenset({"MS_MAX_CONCURRENT_REQ", "MS_MAX_CONCURRENT_REQ_TIME", "TIMEOUT"})
_GROW_AFTER: Final = 5  # successes in a row before a state's concurrency grows by one
_GLOBAL = "*"  # breaker key for VIES as a whole
_WITHHELD = "---"
_SEPARATORS = re.compile(r"[\s.\-/]+")
_NUMBER = re.compile(r"[0-9A-Z+*]+")


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    open_until: float | None = None


@dataclass(slots=True)
class _Flight:
    task: asyncio.Task[ViesAnswer]
    waiters: int = 0


class _StateSlots:
    """One member state's slots: at most `limit` requests in flight, `limit` adapting between 1 and `ceiling`.

    `release(after=...)` gives a slot back later, from a timer, without making anyone wait for it. `acquire`
    returns the epoch (the number of halvings so far) its request went out in: the requests already out when
    the limit was halved were sent under the old limit, and their failures must not halve it again.
    """

    __slots__ = ("_waiters", "busy", "ceiling", "epoch", "limit", "strikes", "successes")

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.limit = ceiling
        self.busy = 0  # slots taken, by requests in flight or given back later
        self.epoch = 0
        self.successes = 0  # in a row, since the last change of the limit
        self.strikes = 0  # pushed back in a row: the length of the pause
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> int:
        if self.busy < self.limit and not self._waiters:
            self.busy += 1
            return self.epoch
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # granted just as its caller was cancelled: pass it on
                self.release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        return self.epoch

    def release(self, after: float = 0.0) -> None:
        if after > 0:
            asyncio.get_running_loop().call_later(after, self.release)
            return
        self.busy -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.busy < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.busy += 1
                waiter.set_result(None)

    def turn_away(self, error: Callable[[], BaseException]) -> None:
        """Every request waiting for a slot gets `error()` instead."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error())

    def pushed_back(self, epoch: int) -> int:
        """The state refused or timed out a request sent in `epoch`: halve the limit (once per epoch).
        Returns the strikes in a row."""
        self.successes = 0
        self.strikes += 1
        if epoch == self.epoch:
            self.limit = max(1, self.limit // 2)
            self.epoch += 1
            log.debug("VIES concurrency for a member state down to %d", self.limit)
        return self.strikes

    def succeeded(self) -> None:
        self.strikes = 0
        self.successes += 1
        if self.successes >= _GROW_AFTER and self.limit < self.ceiling:
            self.limit += 1
            self.successes = 0
            self._wake()


class _Budget:
    """Time spent on one check, excluding waits for a concurrency slot (queueing is not failing)."""

    __slots__ = ("start", "waited")

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.waited = 0.0

    def spent(self) -> float:
        return time.monotonic() - self.start - self.waited


class ViesClient:
    """Validates VAT numbers against VIES. Share one instance per worker; it holds the limits and breakers.

    `clock` (monotonic seconds) drives the breaker cool-down only and may be replaced in tests; the retry
    budget and backoff always use real time. `timeout_hold_s` (default: `request_timeout_s` again) is how much
    longer than our timeout VIES may go on with a request: its slot stays taken that long.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        *,
        per_state_limit: int = 2,
        overall_limit: int = 8,
        request_timeout_s: float = 10.0,
        retry_budget_s: float = 20.0,
        breaker_threshold: int = 5,
        cooldown_s: float = 300.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 8.0,
        timeout_hold_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_state_limit < 1 or overall_limit < 1 or breaker_threshold < 1:
            raise ValueError("per_state_limit, overall_limit and breaker_threshold must be >= 1")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._per_state_limit = per_state_limit
        self._request_timeout_s = request_timeout_s
        self._retry_budget_s = retry_budget_s
        self._breaker_threshold = breaker_threshold
        self._cooldown_s = cooldown_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._timeout_hold_s = request_timeout_s if timeout_hold_s is None else timeout_hold_s
        self.clock = clock
        self.calls = 0  # HTTP requests actually sent
        self._overall = asyncio.Semaphore(overall_limit)
        self._state_slots: dict[str, _StateSlots] = {}
        self._breakers: dict[str, _Breaker] = {}
        self._inflight: dict[str, _Flight] = {}

    # ------------------------------------------------------------------ public

    async def check(self, vat_number: str) -> ViesAnswer:
        """Check a number with its prefix ("DE136695976"; spaces/dots/dashes dropped). GR is sent as EL.

        Raises ViesPermanentError, ViesTransientError (after the retry budget) or ViesSkipped (cool-down).
        """
        full, country, number = _split(vat_number)
        self._raise_if_cooling(country)
        flight = self._inflight.get(full)
        if flight is None:
            new = _Flight(asyncio.create_task(self._check_with_retries(full, country, number)))
            new.task.add_done_callback(lambda _: self._forget(full, new))
            flight = self._inflight[full] = new
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():  # every caller was cancelled
                self._forget(full, flight)  # a later caller must start afresh, not join a dying lookup
                flight.task.cancel()

    def concurrency(self, country: str) -> int:
        """How many requests to a member state ("DE") may be in flight now: 1..per_state_limit."""
        slots = self._state_slots.get(country)
        return self._per_state_limit if slots is None else slots.limit

    async def check_status(self) -> dict[str, bool]:
        """GET /check-status → {country: available}. "Unavailable" → False (and that state cools down);
        "Available" and "Monitoring Disabled" → True. vow.available=false cools down VIES as a whole."""
        async with self._overall:
            response = await self._send("GET", "/check-status")
        body = _json(response)
        _raise_for_error_body(response, body)
        countries = body.get("countries") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(countries, list):
            raise _error_for_status(response)
        status: dict[str, bool] = {}
        for item in countries:
            if isinstance(item, dict) and isinstance(item.get("countryCode"), str):
                code = "EL" if item["countryCode"] == "GR" else item["countryCode"]
                status[code] = item.get("availability") != "Unavailable"
        for country, available in status.items():
            if not available:
                self._open(country)
        vow = body.get("vow") if isinstance(body, dict) else None
        if isinstance(vow, dict) and vow.get("available") is False:
            self._open(_GLOBAL)
        return status

    # ------------------------------------------------------------------ one lookup

    async def _check_with_retries(self, full: str, country: str, number: str) -> ViesAnswer:
        budget = _Budget()

        def stop(state: RetryCallState) -> bool:
            if self._cooling(country) is not None:  # the breaker opened: stop, re-raise the last real error
                return True
            return budget.spent() + state.upcoming_sleep >= self._retry_budget_s

        backoff = wait_exponential_jitter(
            multiplier=self._backoff_initial_s, max=self._backoff_max_s, jitter=self._backoff_initial_s
        )

        def wait(state: RetryCallState) -> float:
            # After our own timeout, the slot is held until VIES is likely done with that request: waiting for
            # it is this check's failure, on its budget, not queueing behind other checks.
            exc = state.outcome.exception() if state.outcome is not None else None
            if isinstance(exc, ViesTransientError) and _timed_out(exc):
                return max(backoff(state), self._timeout_hold_s)
            return backoff(state)

        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=wait,
            stop=stop,
            before_sleep=_log_retry,
            reraise=True,
        )
        return await retrying(self._attempt, full, country, number, budget)

    async def _attempt(self, full: str, country: str, number: str, budget: _Budget) -> ViesAnswer:
        queued = time.monotonic()
        slots = self._state_slot(country)
        epoch = await slots.acquire()
        keep = 0.0  # how long the slot stays taken once this attempt is over
        try:
            async with self._overall:
                budget.waited += time.monotonic() - queued
                self._raise_if_cooling(country)  # it may have opened while this request queued
                try:
                    answer = await self._ask(full, country, number)
                except ViesTransientError as exc:
                    keep = self._keep_after_failure(slots, epoch, exc)
                    raise
                except asyncio.CancelledError:  # VIES may be working on it all the same
                    keep = self._timeout_hold_s
                    raise
            slots.succeeded()
            return answer
        finally:
            slots.release(after=keep)

    async def _ask(self, full: str, country: str, number: str) -> ViesAnswer:
        try:
            response = await self._send("POST", "/check-vat-number", {"countryCode": country, "vatNumber": number})
            answer = _parse_check(response, full)
        except ViesTransientError as exc:
            self._record_failure(_GLOBAL if _is_global(exc.code) else country)
            raise
        except ViesPermanentError as exc:
            if exc.code in _PERMANENT_CODES:  # VIES itself answered coherently
                self._close(_GLOBAL)
            if exc.code == "IP_BLOCKED":  # every further call would fail too and may prolong the block
                self._open(_GLOBAL)
            raise
        self._close(country)
        self._close(_GLOBAL)
        return answer

    def _keep_after_failure(self, slots: _StateSlots, epoch: int, exc: ViesTransientError) -> float:
        """After a failed attempt: shrink the state's concurrency if it pushed back, and say how long the
        slot stays taken: the pause, or, for a request we gave up waiting for, until VIES is likely done."""
        if exc.code not in _PRESSURE_CODES:
            return 0.0
        strikes = slots.pushed_back(epoch)
        pause = min(self._backoff_max_s, self._backoff_initial_s * 2.0 ** min(strikes - 1, 30))
        return max(pause, self._timeout_hold_s) if _timed_out(exc) else pause

    async def _send(self, method: str, path: str, payload: dict[str, str] | None = None) -> httpx.Response:
        self.calls += 1
        try:
            async with asyncio.timeout(self._request_timeout_s):
                return await self._http.request(
                    method,
                    self._base_url + path,
                    json=payload,
                    headers={"Accept": "application/json"},
                    timeout=self._request_timeout_s,
                )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ViesTransientError("CONNECT", type(exc).__name__) from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise ViesTransientError("TIMEOUT", f"no response within {self._request_timeout_s}s") from exc
        except httpx.DecodingError as exc:
            raise ViesTransientError("MALFORMED", type(exc).__name__) from exc
        except httpx.HTTPError as exc:  # connection reset, server hung up without a response, ...
            raise ViesTransientError("NETWORK", type(exc).__name__) from exc

    def _state_slot(self, country: str) -> _StateSlots:
        slots = self._state_slots.get(country)
        if slots is None:
            slots = self._state_slots[country] = _StateSlots(self._per_state_limit)
        return slots

    def _forget(self, full: str, flight: _Flight) -> None:
        if self._inflight.get(full) is flight:
            del self._inflight[full]
        if flight.task.done() and not flight.task.cancelled():
            flight.task.exception()  # retrieved by the waiters; silences "never retrieved" if none is left

    # ------------------------------------------------------------------ circuit breakers

    def _cooling(self, country: str) -> str | None:
        """The key ("*" or the country) whose breaker is open, else None. An expired cool-down half-opens:
        calls go through again, and a single further failure re-opens it."""
        now = self.clock()
        for key in (_GLOBAL, country):
            breaker = self._breakers.get(key)
            if breaker is None or breaker.open_until is None:
                continue
            if now < breaker.open_until:
                return key
            breaker.open_until = None
            breaker.failures = self._breaker_threshold - 1
            log.debug("VIES breaker %s half-open", key)
        return None

    def _raise_if_cooling(self, country: str) -> None:
        key = self._cooling(country)
        if key is not None:
            raise _skipped(key)

    def _record_failure(self, key: str) -> None:
        breaker = self._breakers.setdefault(key, _Breaker())
        breaker.failures += 1
        if breaker.open_until is None and breaker.failures >= self._breaker_threshold:
            self._open(key)

    def _open(self, key: str) -> None:
        breaker = self._breakers.setdefault(key, _Breaker())
        breaker.failures = max(breaker.failures, self._breaker_threshold)
        breaker.open_until = self.clock() + self._cooldown_s
        log.debug("VIES breaker %s open for %.0fs", key, self._cooldown_s)
        # Requests queued for a slot are skipped now, not when a slot held for a slow VIES comes free.
        for country, slots in self._state_slots.items():
            if key in (_GLOBAL, country):
                slots.turn_away(lambda: _skipped(key))

    def _close(self, key: str) -> None:
        breaker = self._breakers.get(key)
        if breaker is not None and (breaker.failures or breaker.open_until is not None):
            breaker.failures = 0
            breaker.open_until = None


# ---------------------------------------------------------------------- helpers


def _split(vat_number: str) -> tuple[str, str, str]:
    """("EL094259216", "EL", "094259216") from "GR 094 259 216"; raises ViesPermanentError without a call."""
    compact = _SEPARATORS.sub("", vat_number).upper()
    prefix, number = compact[:2], compact[2:]
    if prefix == "GR":
        prefix = "EL"
    if len(prefix) < 2 or not prefix.isalpha():
        raise ViesPermanentError("INVALID_INPUT", "a VAT number must start with its country prefix")
    if prefix == "GB":
        raise ViesPermanentError("NOT_IN_VIES", "GB numbers left VIES on 2021-01-01 (Northern Ireland is XI)")
    if prefix not in VIES_PREFIXES:
        raise ViesPermanentError("NOT_IN_VIES", f"{prefix} is not a VIES member state prefix")
    if not _NUMBER.fullmatch(number):
        raise ViesPermanentError("INVALID_INPUT", "empty or malformed VAT number")
    return prefix + number, prefix, number


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None


def _raise_for_error_body(response: httpx.Response, body: Any) -> None:
    """Raise the classified error if `body` is a VIES CommonResponse error, whatever the HTTP status."""
    if not isinstance(body, dict) or not (body.get("actionSucceed") is False or "errorWrappers" in body):
        return
    wrappers = body.get("errorWrappers")
    first = wrappers[0] if isinstance(wrappers, list) and wrappers else None
    code = first.get("error") if isinstance(first, dict) else None
    if not isinstance(code, str) or not code:
        raise ViesTransientError("MALFORMED", "error body without an error code", response=response)
    message = first.get("message") if isinstance(first, dict) else None
    message = message if isinstance(message, str) else ""
    if code in _PERMANENT_CODES:
        raise ViesPermanentError(code, message, response=response)
    if code in _STATE_CODES or code in _GLOBAL_CODES:
        raise ViesTransientError(code, message, response=response)
    if _permanent_status(response.status_code):  # an unknown code: let the HTTP status decide
        raise ViesPermanentError(code, message, response=response)
    raise ViesTransientError(code, message, response=response)


def _permanent_status(status: int) -> bool:
    return 400 <= status < 500 and status not in (408, 429)


def _error_for_status(response: httpx.Response) -> ViesError:
    """No usable VIES body. 2xx → MALFORMED (a proxy page is not an answer); 4xx but 408/429 → permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return ViesTransientError("MALFORMED", "unexpected response body", response=response)
    if _permanent_status(status):
        return ViesPermanentError(f"HTTP_{status}", response=response)
    return ViesTransientError(f"HTTP_{status}", response=response)


def _parse_check(response: httpx.Response, full: str) -> ViesAnswer:
    body = _json(response)
    _raise_for_error_body(response, body)
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("valid"), bool):
        raise _error_for_status(response)
    return ViesAnswer(
        vat_number=full,
        valid=body["valid"],
        name=_text(body.get("name")),
        address=_text(body.get("address")),
        request_date=_datetime(body.get("requestDate")),
    )


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or value.strip() in ("", _WITHHELD):
        return None
    return value.strip()


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)  # 3.11 accepts the trailing "Z"
    except ValueError:
        return None


def _is_global(code: str) -> bool:
    """Transient failures not tied to one member state: VIES-wide codes, HTTP/transport/body failures."""
    return code not in _STATE_CODES


def _skipped(key: str) -> ViesSkipped:
    what = "VIES" if key == _GLOBAL else f"member state {key}"
    return ViesSkipped("COOLDOWN", f"{what} is cooling down after repeated failures; not called")


def _timed_out(exc: ViesTransientError) -> bool:
    """We stopped waiting (VIES's own TIMEOUT is an answer): VIES may still be working on the request."""
    return exc.code == "TIMEOUT" and exc.response is None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ViesTransientError) and not isinstance(exc, ViesSkipped)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    log.debug("VIES attempt %d failed (%s); retrying in %.2fs", state.attempt_number, exc, state.upcoming_sleep)
