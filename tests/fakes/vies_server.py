"""A fake EU VIES REST service on 127.0.0.1 (real sockets, stdlib only), for tests and benchmarks.

    with FakeVies(valid_numbers={"DE136695976"}, latency_s=0.05) as vies:
        async with httpx.AsyncClient(trust_env=False) as http:   # trust_env=False: no proxy for 127.0.0.1
            client = ViesClient(http, vies.url)

Follows the official swagger (POST /check-vat-number, POST /check-vat-test-service, GET /check-status) with
bodies shaped like the answers captured from VIES. Every attribute may be changed while
the server runs. What a POST answers, first rule that applies:

1. more than `global_limit` / `per_state_limit` requests in flight → GLOBAL_/MS_MAX_CONCURRENT_REQ (at once).
   A request stays in flight until the fake has finished it, whether or not its client is still there: like
   VIES, the fake goes on with a request whose client timed out and hung up, so a client that re-sends at
   once finds the member state's slot still taken.
2. missing countryCode/vatNumber or bad JSON → HTTP 500 VOW-ERR-1 (VIES's answer to a malformed request)
3. `script[countryCode + vatNumber]` non-empty → its next entry (consumed): "valid", "invalid", an error
   code, or one of the modes below
4. `mode` other than "ok" and "slow": "http500" (HTML 500 page), "malformed" (HTML with HTTP 200), "hang"
   (sleep `hang_s`, past any sane client timeout), "reset" (close the connection without a response)
5. `down` → SERVICE_UNAVAILABLE
6. vatNumber is a test-service code (100 valid, 200 invalid, 201 INVALID_INPUT, ..., 601) → that answer,
   on both endpoints; any other number on /check-vat-test-service → SERVICE_UNAVAILABLE
7. unknown countryCode or empty vatNumber → INVALID_INPUT
8. countryCode in `unavailable_states` → MS_UNAVAILABLE
9. seeded random draw below `error_rate` → `error_code`
10. valid if countryCode + vatNumber is in `valid_numbers` or `default_valid`, else invalid

Before deciding, a request not over a limit takes `latency_s`; a slow one takes `slow_s` instead (meant to be
longer than the client's request timeout): every request in mode "slow", otherwise a seeded random draw below
`slow_rate`. `outcomes` counts what each check request was answered, `MS_MAX_CONCURRENT_REQ` included.

Error bodies are `{"actionSucceed": false, "errorWrappers": [{"error": CODE}]}` sent with HTTP
`errors_as_http_status` (200, as VIES mostly does). Every wait (latency, hang) is bounded and wakes up on
exit.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final

VIES_STATES: Final = (
    *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU"),
    *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"),
)
# checkVatTestService table (notes.md); "valid"/"invalid" are answers, the rest error codes.
TEST_CODES: Final = {
    "100": "valid",
    "200": "invalid",
    "201": "INVALID_INPUT",
    "202": "INVALID_REQUESTER_INFO",
    "300": "SERVICE_UNAVAILABLE",
    "301": "MS_UNAVAILABLE",
    "302": "TIMEOUT",
    "400": "VAT_BLOCKED",
    "401": "IP_BLOCKED",
    "500": "GLOBAL_MAX_CONCURRENT_REQ",
    "501": "GLOBAL_MAX_CONCURRENT_REQ_TIME",
    "600": "MS_MAX_CONCURRENT_REQ",
    "601": "MS_MAX_CONCURRENT_REQ_TIME",
}
MODES: Final = ("ok", "slow", "http500", "malformed", "hang", "reset")
_CHECK_PATHS: Final = ("/check-vat-number", "/check-vat-test-service")
_WITHHELD = "---"
_HTML_500 = b"<html><head><title>500 Internal Server Error</title></head><body>Internal Server Error</body></html>"
_HTML_PROXY = b"<html><body><h1>Service temporarily unavailable</h1><p>Reference #18.4a3c1602</p></body></html>"


class FakeVies:
    """Context manager running the fake in a daemon thread on an ephemeral port; see the module docstring."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        per_state_limit: int | None = None,
        global_limit: int | None = None,
        error_rate: float = 0.0,
        error_code: str = "MS_MAX_CONCURRENT_REQ",
        seed: int = 0,
        unavailable_states: Iterable[str] = (),
        down: bool = False,
        mode: str = "ok",
        valid_numbers: Iterable[str] = (),
        default_valid: bool = False,
        script: dict[str, list[str]] | None = None,
        errors_as_http_status: int = 200,
        withheld_states: Iterable[str] = (),  # valid answers carry "---" for name/address (as DE does)
        monitoring_disabled_states: Iterable[str] = (),  # check-status says "Monitoring Disabled"
        hang_s: float = 30.0,
        slow_s: float = 1.5,
        slow_rate: float = 0.0,
    ) -> None:
        self.latency_s = latency_s
        self.slow_s = slow_s
        self.slow_rate = slow_rate
        self.per_state_limit = per_state_limit
        self.global_limit = global_limit
        self.error_rate = error_rate
        self.error_code = error_code
        self.seed = seed
        self.unavailable_states = set(unavailable_states)
        self.down = down
        self.mode = mode
        self.valid_numbers = set(valid_numbers)
        self.default_valid = default_valid
        self.script = {number: list(answers) for number, answers in (script or {}).items()}
        self.errors_as_http_status = errors_as_http_status
        self.withheld_states = set(withheld_states)
        self.monitoring_disabled_states = set(monitoring_disabled_states)
        self.hang_s = hang_s

        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.reset_stats()

    # -------------------------------------------------------------- settings and stats

    @property
    def seed(self) -> int:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:  # re-seeding restarts the deterministic error sequence
        self._seed = value
        self._rng = random.Random(value)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {value!r}")
        self._mode = value

    def reset_stats(self) -> None:
        """Forget calls and observed concurrency (not the settings)."""
        with self._lock:
            self.calls: list[tuple[str, str]] = []  # (countryCode, vatNumber) of every check request received
            self.status_calls = 0  # GET /check-status requests
            self.max_in_flight: dict[str, int] = {}  # per countryCode, the most check requests in flight at once
            self.max_in_flight_total = 0
            self.outcomes: Counter[str] = Counter()  # "valid", "invalid" or the error code answered
            self._in_flight: dict[str, int] = {}
            self._in_flight_total = 0

    # -------------------------------------------------------------- lifecycle

    def __enter__(self) -> FakeVies:
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-vies", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()  # wakes every sleeping handler
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(min(seconds, self.hang_s))

    # -------------------------------------------------------------- request handling

    def _handle_post(self, h: _Handler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        path = h.path.split("?", 1)[0]
        if path not in _CHECK_PATHS:
            _write(h, 404, b"Not Found", "text/plain")
            return
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        country = request.get("countryCode") if isinstance(request, dict) else None
        number = request.get("vatNumber") if isinstance(request, dict) else None
        with self._lock:
            self.calls.append((country if isinstance(country, str) else "", number if isinstance(number, str) else ""))
        if not isinstance(country, str) or not isinstance(number, str):
            with self._lock:
                self.outcomes["VOW-ERR-1"] += 1
            self._respond(h, "VOW-ERR-1", "", "")
            return

        with self._lock:
            self._in_flight[country] = self._in_flight.get(country, 0) + 1
            self._in_flight_total += 1
            self.max_in_flight[country] = max(self.max_in_flight.get(country, 0), self._in_flight[country])
            self.max_in_flight_total = max(self.max_in_flight_total, self._in_flight_total)
            over: str | None = None
            if self.global_limit is not None and self._in_flight_total > self.global_limit:
                over = "GLOBAL_MAX_CONCURRENT_REQ"
            elif self.per_state_limit is not None and self._in_flight[country] > self.per_state_limit:
                over = "MS_MAX_CONCURRENT_REQ"
        try:
            if over is not None:
                outcome = over
            else:
                # Even if the client has given up meanwhile: the slot stays taken until this work is done.
                self._sleep(self.slow_s if self._slow() else self.latency_s)
                outcome = self._decide(path, country, number)
                if outcome == "hang":
                    self._sleep(self.hang_s)
                    outcome = "SERVICE_UNAVAILABLE"  # nobody is listening any more, normally
        finally:
            # Leave the in-flight count *before* answering: the client may send its next request the moment
            # it reads this response, and that one must not count this one as still in flight.
            with self._lock:
                self._in_flight[country] -= 1
                self._in_flight_total -= 1
        with self._lock:
            self.outcomes[outcome] += 1
        self._respond(h, outcome, country, number)

    def _slow(self) -> bool:
        if self.mode == "slow":
            return True
        if self.slow_rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.slow_rate

    def _decide(self, path: str, country: str, number: str) -> str:
        with self._lock:
            answers = self.script.get(country + number)
            if answers:
                return answers.pop(0)
        if self.mode not in ("ok", "slow"):
            return self.mode
        if self.down:
            return "SERVICE_UNAVAILABLE"
        if number in TEST_CODES:
            return TEST_CODES[number]
        if path == "/check-vat-test-service":
            return "SERVICE_UNAVAILABLE"
        if country not in VIES_STATES or not number:
            return "INVALID_INPUT"
        if country in self.unavailable_states:
            return "MS_UNAVAILABLE"
        if self.error_rate > 0:
            with self._lock:
                if self._rng.random() < self.error_rate:
                    return self.error_code
        return "valid" if self.default_valid or country + number in self.valid_numbers else "invalid"

    def _respond(self, h: _Handler, outcome: str, country: str, number: str) -> None:
        if outcome == "reset":
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
        elif outcome == "hang":  # a scripted hang
            self._sleep(self.hang_s)
            self._respond(h, "SERVICE_UNAVAILABLE", country, number)
        elif outcome == "http500":
            _write(h, 500, _HTML_500, "text/html")
        elif outcome == "malformed":
            _write(h, 200, _HTML_PROXY, "text/html")
        elif outcome in ("valid", "invalid"):
            _write_json(h, 200, self._answer(country, number, outcome == "valid"))
        elif outcome == "VOW-ERR-1":
            _write_json(h, 500, _error_body(outcome))
        else:
            _write_json(h, self.errors_as_http_status, _error_body(outcome))

    def _answer(self, country: str, number: str, valid: bool) -> dict[str, Any]:
        shown = valid and country not in self.withheld_states
        return {
            "countryCode": country,
            "vatNumber": number,
            "requestDate": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "valid": valid,
            "requestIdentifier": "",
            "name": f"TEST COMPANY {country}{number}" if shown else _WITHHELD,
            "address": f"TESTGATAN {number[-2:]}\n123 45 TESTSTAD" if shown else _WITHHELD,
            "traderName": _WITHHELD,
            "traderStreet": _WITHHELD,
            "traderPostalCode": _WITHHELD,
            "traderCity": _WITHHELD,
            "traderCompanyType": _WITHHELD,
            "traderNameMatch": "NOT_PROCESSED",
            "traderStreetMatch": "NOT_PROCESSED",
            "traderPostalCodeMatch": "NOT_PROCESSED",
            "traderCityMatch": "NOT_PROCESSED",
            "traderCompanyTypeMatch": "NOT_PROCESSED",
        }

    def _handle_get(self, h: _Handler) -> None:
        if h.path.split("?", 1)[0] != "/check-status":
            _write(h, 404, b"Not Found", "text/plain")
            return
        with self._lock:
            self.status_calls += 1
        self._sleep(self.slow_s if self.mode == "slow" else self.latency_s)
        if self.mode not in ("ok", "slow"):
            self._respond(h, self.mode, "", "")
            return
        countries = [{"countryCode": cc, "availability": self._availability(cc)} for cc in VIES_STATES]
        _write_json(h, 200, {"vow": {"available": not self.down}, "countries": countries})

    def _availability(self, country: str) -> str:
        if self.down or country in self.unavailable_states:
            return "Unavailable"
        return "Monitoring Disabled" if country in self.monitoring_disabled_states else "Available"


def _error_body(code: str) -> dict[str, Any]:
    return {"actionSucceed": False, "errorWrappers": [{"error": code}]}


def _write_json(h: _Handler, status: int, body: dict[str, Any]) -> None:
    _write(h, status, json.dumps(body, ensure_ascii=False).encode(), "application/json")


def _write(h: _Handler, status: int, body: bytes, content_type: str) -> None:
    try:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()
    except OSError:  # the client gave up (timeout) and hung up
        h.close_connection = True


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like the real service
    # Headers and body are two writes: without TCP_NODELAY, Nagle + delayed ACK stall each answer ~40 ms.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.server.fake._handle_post(self)

    def do_GET(self) -> None:
        self.server.fake._handle_get(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeVies

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Unblock handler threads waiting on idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # clients hanging up mid-answer: expected, not news
            return
        super().handle_error(request, client_address)
