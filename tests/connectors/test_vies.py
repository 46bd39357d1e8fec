"""connectors.vies against the fake VIES on 127.0.0.1 (real HTTP, no mocking of httpx)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.vies import (
    ViesAnswer,
    ViesClient,
    ViesPermanentError,
    ViesSkipped,
    ViesTransientError,
)
from tests.fakes.vies_server import FakeVies


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeVies]:
    with FakeVies(valid_numbers={"DE136695976", "CZ12345674", "EL094259216", "XI123456789"}) as vies:
        yield vies


def make_client(http: httpx.AsyncClient, url: str, **overrides: Any) -> ViesClient:
    """Fast settings: tiny backoff and budget, breaker out of the way unless a test wants it."""
    settings: dict[str, Any] = {
        "request_timeout_s": 2.0,
        "retry_budget_s": 2.0,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "breaker_threshold": 1000,
    }
    settings.update(overrides)
    return ViesClient(http, url, **settings)


# ---------------------------------------------------------------------- answers


async def test_valid(fake: FakeVies, http: httpx.AsyncClient) -> None:
    client = make_client(http, fake.url)
    answer = await client.check("CZ12345674")
    assert answer.vat_number == "CZ12345674"
    assert answer.valid is True
    assert answer.name == "TEST COMPANY CZ12345674"
    assert answer.address is not None
    assert "\n" in answer.address
    assert answer.request_date is not None
    assert answer.request_date.utcoffset() is not None
    assert fake.calls == [("CZ", "12345674")]
    assert client.calls == 1


async def test_valid_with_withheld_details(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.withheld_states = {"DE"}
    answer = await make_client(http, fake.url).check("DE136695976")
    assert answer == ViesAnswer("DE136695976", True, None, None, answer.request_date)


async def test_invalid_is_a_result_not_an_error(fake: FakeVies, http: httpx.AsyncClient) -> None:
    client = make_client(http, fake.url)
    answer = await client.check("CZ99999992")
    assert answer.valid is False
    assert answer.name is None
    assert answer.address is None
    assert client.calls == 1


async def test_greek_prefix_is_sent_as_el(fake: FakeVies, http: httpx.AsyncClient) -> None:
    answer = await make_client(http, fake.url).check("GR094259216")
    assert answer.vat_number == "EL094259216"
    assert answer.valid
    assert fake.calls == [("EL", "094259216")]


async def test_separators_and_case_are_tolerated(fake: FakeVies, http: httpx.AsyncClient) -> None:
    answer = await make_client(http, fake.url).check(" cz 1234-5674 ")
    assert answer.vat_number == "CZ12345674"
    assert answer.valid


async def test_northern_ireland_is_checked(fake: FakeVies, http: httpx.AsyncClient) -> None:
    assert (await make_client(http, fake.url).check("XI123456789")).valid


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("GB123456789", "NOT_IN_VIES"),
        ("US123456789", "NOT_IN_VIES"),
        ("123456789", "INVALID_INPUT"),
        ("DE", "INVALID_INPUT"),
    ],
)
async def test_rejected_without_a_call(fake: FakeVies, http: httpx.AsyncClient, number: str, code: str) -> None:
    client = make_client(http, fake.url)
    with pytest.raises(ViesPermanentError) as caught:
        await client.check(number)
    assert caught.value.code == code
    assert client.calls == 0
    assert fake.calls == []


# ---------------------------------------------------------------------- errors and retries


async def test_transient_then_valid(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.script = {"DE136695976": ["MS_UNAVAILABLE", "MS_MAX_CONCURRENT_REQ", "valid"]}
    client = make_client(http, fake.url)
    answer = await client.check("DE136695976")
    assert answer.valid
    assert client.calls == 3
    assert len(fake.calls) == 3


async def test_error_bodies_with_http_500_are_classified_by_code(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.errors_as_http_status = 500
    fake.script = {"DE136695976": ["GLOBAL_MAX_CONCURRENT_REQ", "valid"]}
    client = make_client(http, fake.url)
    assert (await client.check("DE136695976")).valid
    assert client.calls == 2
    with pytest.raises(ViesPermanentError) as caught:
        await client.check("DE201")  # INVALID_INPUT, with HTTP 500
    assert caught.value.code == "INVALID_INPUT"
    assert caught.value.response is not None
    assert caught.value.response.status_code == 500


@pytest.mark.parametrize(
    ("test_number", "code"),
    [
        ("201", "INVALID_INPUT"),
        ("202", "INVALID_REQUESTER_INFO"),
        ("400", "VAT_BLOCKED"),
        ("401", "IP_BLOCKED"),
    ],
)
@pytest.mark.parametrize("status", [200, 400])
async def test_permanent_errors_are_not_retried(
    fake: FakeVies, http: httpx.AsyncClient, test_number: str, code: str, status: int
) -> None:
    fake.errors_as_http_status = status
    client = make_client(http, fake.url)
    with pytest.raises(ViesPermanentError) as caught:
        await client.check("DE" + test_number)
    assert caught.value.code == code
    assert caught.value.response is not None
    assert caught.value.response.status_code == status
    assert client.calls == 1


@pytest.mark.parametrize(
    ("test_number", "code"),
    [
        ("300", "SERVICE_UNAVAILABLE"),
        ("301", "MS_UNAVAILABLE"),
        ("302", "TIMEOUT"),
        ("500", "GLOBAL_MAX_CONCURRENT_REQ"),
        ("501", "GLOBAL_MAX_CONCURRENT_REQ_TIME"),
        ("600", "MS_MAX_CONCURRENT_REQ"),
        ("601", "MS_MAX_CONCURRENT_REQ_TIME"),
    ],
)
async def test_transient_errors_are_retried_until_the_budget_runs_out(
    fake: FakeVies, http: httpx.AsyncClient, test_number: str, code: str
) -> None:
    # Long enough for a second attempt even when the first is slow (a loaded CI host), short for a test.
    client = make_client(http, fake.url, retry_budget_s=0.6)
    with pytest.raises(ViesTransientError) as caught:
        await client.check("FR" + test_number)
    assert caught.value.code == code
    assert not isinstance(caught.value, ViesSkipped)
    assert client.calls >= 2


async def test_vow_err_1_is_permanent(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.script = {"DE136695976": ["VOW-ERR-1"]}
    client = make_client(http, fake.url)
    with pytest.raises(ViesPermanentError) as caught:
        await client.check("DE136695976")
    assert caught.value.code == "VOW-ERR-1"
    assert caught.value.response is not None
    assert caught.value.response.status_code == 500
    assert client.calls == 1


async def test_timeout_is_retried_then_transient(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.mode = "hang"
    client = make_client(http, fake.url, request_timeout_s=0.2, retry_budget_s=0.7)
    started = time.monotonic()
    with pytest.raises(ViesTransientError) as caught:
        await client.check("DE136695976")
    elapsed = time.monotonic() - started
    assert caught.value.code == "TIMEOUT"
    assert client.calls >= 2
    assert elapsed < 0.7 + 0.2 + 0.5  # budget + one request timeout + slack


async def test_plain_http_500_is_transient(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.mode = "http500"
    client = make_client(http, fake.url, retry_budget_s=0.15)
    with pytest.raises(ViesTransientError) as caught:
        await client.check("DE136695976")
    assert caught.value.code == "HTTP_500"
    assert caught.value.response is not None
    assert "Internal Server Error" in caught.value.response.text
    assert client.calls >= 2


async def test_malformed_body_is_transient(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.mode = "malformed"
    client = make_client(http, fake.url, retry_budget_s=0.15)
    with pytest.raises(ViesTransientError) as caught:
        await client.check("DE136695976")
    assert caught.value.code == "MALFORMED"
    assert caught.value.response is not None
    assert caught.value.response.status_code == 200
    assert client.calls >= 2


async def test_scripted_garbage_then_valid(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.script = {"DE136695976": ["malformed", "http500", "reset", "valid"]}
    client = make_client(http, fake.url)
    assert (await client.check("DE136695976")).valid
    assert client.calls == 4


async def test_connection_reset_is_transient(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.mode = "reset"
    client = make_client(http, fake.url, retry_budget_s=0.15)
    with pytest.raises(ViesTransientError) as caught:
        await client.check("DE136695976")
    assert caught.value.code == "NETWORK"
    assert caught.value.response is None


async def test_connection_refused_is_transient(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port nobody listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(http, f"http://127.0.0.1:{port}", retry_budget_s=0.15)
    with pytest.raises(ViesTransientError) as caught:
        await client.check("DE136695976")
    assert caught.value.code == "CONNECT"
    assert client.calls >= 2


# ---------------------------------------------------------------------- concurrency


async def test_concurrent_checks_share_lookups_and_respect_limits(http: httpx.AsyncClient) -> None:
    numbers = [f"DE10000000{i}" for i in range(5)] + [f"FR1000000000{i}" for i in range(5)]
    with FakeVies(latency_s=0.1, per_state_limit=2, global_limit=3, default_valid=True) as vies:
        client = make_client(http, vies.url, per_state_limit=2, overall_limit=3)
        answers = await asyncio.gather(*(client.check(numbers[i % 10]) for i in range(50)))
    assert all(a.valid for a in answers)
    assert [a.vat_number for a in answers] == [numbers[i % 10] for i in range(50)]
    assert client.calls == 10
    assert len(vies.calls) == 10
    assert sorted(c + n for c, n in vies.calls) == sorted(numbers)
    assert max(vies.max_in_flight.values()) <= 2
    assert 2 <= vies.max_in_flight_total <= 3


async def test_waiting_for_a_slot_does_not_use_the_retry_budget(http: httpx.AsyncClient) -> None:
    numbers = [f"DE10000000{i}" for i in range(5)]
    with FakeVies(
        latency_s=0.1, per_state_limit=1, default_valid=True, script={numbers[-1]: ["MS_UNAVAILABLE"]}
    ) as vies:
        client = make_client(http, vies.url, per_state_limit=1, retry_budget_s=0.3)
        answers = await asyncio.gather(*(client.check(n) for n in numbers))  # the last one queues ~0.4 s
    assert all(a.valid for a in answers)
    assert client.calls == 6
    assert vies.max_in_flight["DE"] == 1


async def test_one_cancelled_caller_does_not_cancel_the_shared_lookup(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.latency_s = 0.2
    client = make_client(http, fake.url)
    first = asyncio.create_task(client.check("DE136695976"))
    second = asyncio.create_task(client.check("DE136695976"))
    await asyncio.sleep(0.05)
    first.cancel()
    assert (await second).valid
    assert client.calls == 1


async def test_shared_lookup_shares_the_error(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.latency_s = 0.05
    client = make_client(http, fake.url)
    results = await asyncio.gather(*(client.check("DE201") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, ViesPermanentError) and r.code == "INVALID_INPUT" for r in results)
    assert client.calls == 1


# ---------------------------------------------------------------------- a slow VIES


def over_limit_share(vies: FakeVies) -> float:
    return vies.outcomes["MS_MAX_CONCURRENT_REQ"] / len(vies.calls)


def assert_as_the_fake_says(numbers: list[str], results: list[Any], valid: set[str]) -> Counter[str]:
    """Each number ended valid/invalid as the fake says, or pending (a transient error): never a verdict
    without an answer, never a permanent error for an outage."""
    ended: Counter[str] = Counter()
    for number, result in zip(numbers, results, strict=True):
        if isinstance(result, ViesAnswer):
            assert result.valid == (number in valid), number
            ended["valid" if result.valid else "invalid"] += 1
        else:
            assert isinstance(result, ViesTransientError), (number, result)
            ended["pending"] += 1
    return ended


async def test_over_limit_answers_stay_rare_while_vies_is_slow(http: httpx.AsyncClient) -> None:
    # A third of the requests outlast the client's timeout and keep their slot at VIES meanwhile.
    # Before timed-out requests kept their slot, two thirds of the calls here came back over the limit.
    numbers = [f"{('DE', 'FR', 'NL')[i % 3]}{100000000 + i}" for i in range(30)]
    valid = set(numbers[::2])
    with FakeVies(valid_numbers=valid, latency_s=0.02, slow_s=0.3, slow_rate=0.3, seed=1, per_state_limit=2) as vies:
        client = make_client(http, vies.url, per_state_limit=2, request_timeout_s=0.2, retry_budget_s=1.0)
        results = await asyncio.gather(*(client.check(n) for n in numbers), return_exceptions=True)
    ended = assert_as_the_fake_says(numbers, results, valid)
    assert ended["valid"] + ended["invalid"] >= 15  # it got on with the work
    assert over_limit_share(vies) < 0.10, vies.outcomes


async def test_every_request_slow_leaves_every_number_pending_without_a_storm(http: httpx.AsyncClient) -> None:
    # Before timed-out requests kept their slot, over half the calls here came back over the limit.
    numbers = [f"{('DE', 'FR', 'NL')[i % 3]}{100000000 + i}" for i in range(6)]
    with FakeVies(mode="slow", slow_s=0.3, per_state_limit=2, default_valid=True) as vies:
        client = make_client(http, vies.url, per_state_limit=2, request_timeout_s=0.2, retry_budget_s=0.5)
        results = await asyncio.gather(*(client.check(n) for n in numbers), return_exceptions=True)
    assert assert_as_the_fake_says(numbers, results, set(numbers)) == {"pending": 6}
    assert {r.code for r in results} == {"TIMEOUT"}
    assert over_limit_share(vies) < 0.10, vies.outcomes


async def test_a_timed_out_request_keeps_its_slot_without_holding_up_its_caller(http: httpx.AsyncClient) -> None:
    with FakeVies(mode="slow", slow_s=0.3, per_state_limit=1, default_valid=True) as vies:
        client = make_client(
            http, vies.url, per_state_limit=1, request_timeout_s=0.1, timeout_hold_s=0.4, retry_budget_s=0.05
        )
        started = time.monotonic()
        with pytest.raises(ViesTransientError) as caught:
            await client.check("DE136695976")
        assert caught.value.code == "TIMEOUT"
        assert time.monotonic() - started < 0.3  # the caller did not wait for the hold
        vies.mode = "ok"
        assert (await client.check("DE811907980")).valid  # sent once VIES is done with the first
        assert time.monotonic() - started >= 0.5
        assert (await client.check("FR40303265045")).valid  # another state is not held up
    assert vies.outcomes == {"valid": 3}
    assert client.calls == 3


async def test_concurrency_per_state_shrinks_when_over_the_limit_and_grows_back(
    fake: FakeVies, http: httpx.AsyncClient
) -> None:
    client = make_client(http, fake.url, per_state_limit=4)
    assert client.concurrency("DE") == 4
    fake.script = {"DE136695976": ["MS_MAX_CONCURRENT_REQ", "valid"]}
    assert (await client.check("DE136695976")).valid
    assert client.concurrency("DE") == 2
    fake.script = {"DE136695976": ["MS_MAX_CONCURRENT_REQ", "MS_MAX_CONCURRENT_REQ", "valid"]}
    assert (await client.check("DE136695976")).valid
    assert client.concurrency("DE") == 1  # never below one
    assert client.concurrency("FR") == 4  # per state

    fake.latency_s = 0.02
    fake.reset_stats()
    numbers = [f"DE10000000{i}" for i in range(4)]
    await asyncio.gather(*(client.check(n) for n in numbers))
    assert fake.max_in_flight["DE"] == 1  # the shrunk limit holds
    for _ in range(40):  # a run of successes raises it by one at a time, up to the configured limit
        await client.check("DE136695976")
    assert client.concurrency("DE") == 4


async def test_over_limit_answers_to_one_round_of_requests_halve_the_concurrency_once(
    fake: FakeVies, http: httpx.AsyncClient
) -> None:
    client = make_client(http, fake.url, per_state_limit=4)
    numbers = [f"DE10000000{i}" for i in range(3)]
    fake.latency_s = 0.05
    fake.script = {n: ["MS_MAX_CONCURRENT_REQ", "invalid"] for n in numbers}
    await asyncio.gather(*(client.check(n) for n in numbers))
    assert client.concurrency("DE") == 2


async def test_a_timeout_shrinks_the_concurrency(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.script = {"DE136695976": ["hang", "valid"]}
    fake.hang_s = 0.3
    client = make_client(http, fake.url, per_state_limit=2, request_timeout_s=0.1, timeout_hold_s=0.0)
    assert (await client.check("DE136695976")).valid
    assert client.concurrency("DE") == 1


# ---------------------------------------------------------------------- circuit breaker


async def test_breaker_skips_a_failing_state_then_retries_after_cooldown(
    fake: FakeVies, http: httpx.AsyncClient
) -> None:
    fake.unavailable_states = {"DE"}
    clock = FakeClock()
    client = make_client(http, fake.url, breaker_threshold=3, cooldown_s=60, clock=clock)

    with pytest.raises(ViesTransientError) as caught:  # retried until the breaker opened: 3 calls
        await client.check("DE136695976")
    assert caught.value.code == "MS_UNAVAILABLE"
    assert not isinstance(caught.value, ViesSkipped)
    assert client.calls == 3

    with pytest.raises(ViesSkipped) as skipped:  # no call while cooling down
        await client.check("DE811907980")
    assert skipped.value.code == "COOLDOWN"
    assert client.calls == 3

    assert (await client.check("CZ12345674")).valid  # other states are unaffected
    assert client.calls == 4

    clock.now += 61  # half-open: one call, one failure re-opens it
    with pytest.raises(ViesTransientError):
        await client.check("DE136695976")
    assert client.calls == 5
    with pytest.raises(ViesSkipped):
        await client.check("DE136695976")
    assert client.calls == 5

    fake.unavailable_states = set()
    clock.now += 61  # recovered: a success closes the breaker for good
    assert (await client.check("DE136695976")).valid
    fake.script = {"DE136695976": ["MS_UNAVAILABLE", "valid"]}
    assert (await client.check("DE136695976")).valid
    assert client.calls == 8


async def test_checks_queued_for_a_held_slot_are_skipped_when_the_breaker_opens(http: httpx.AsyncClient) -> None:
    with FakeVies(mode="slow", slow_s=0.3, default_valid=True) as vies:
        client = make_client(
            http, vies.url, per_state_limit=1, request_timeout_s=0.1, timeout_hold_s=2.0, breaker_threshold=1
        )
        client.clock = FakeClock()
        started = time.monotonic()
        results = await asyncio.gather(*(client.check(f"DE10000000{i}") for i in range(3)), return_exceptions=True)
        elapsed = time.monotonic() - started
    assert [type(r) for r in results] == [ViesTransientError, ViesSkipped, ViesSkipped]
    assert elapsed < 1.0  # not after the first request's slot came free
    assert client.calls == 1


async def test_breaker_for_vies_as_a_whole(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.down = True
    clock = FakeClock()
    client = make_client(http, fake.url, breaker_threshold=2, cooldown_s=60, clock=clock)
    with pytest.raises(ViesTransientError) as caught:
        await client.check("DE136695976")
    assert caught.value.code == "SERVICE_UNAVAILABLE"
    assert client.calls == 2
    with pytest.raises(ViesSkipped):  # every state is skipped
        await client.check("CZ12345674")
    assert client.calls == 2
    fake.down = False
    clock.now += 61
    assert (await client.check("CZ12345674")).valid


async def test_ip_blocked_stops_all_calls(fake: FakeVies, http: httpx.AsyncClient) -> None:
    client = make_client(http, fake.url, clock=FakeClock())
    with pytest.raises(ViesPermanentError):
        await client.check("DE401")
    with pytest.raises(ViesSkipped):
        await client.check("CZ12345674")
    assert client.calls == 1


# ---------------------------------------------------------------------- check-status


async def test_check_status(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.unavailable_states = {"SK"}
    client = make_client(http, fake.url, clock=FakeClock())
    status = await client.check_status()
    assert status["SK"] is False
    assert status["CZ"] is True
    assert status["EL"] is True
    assert status["XI"] is True
    assert len(status) == 28
    assert fake.status_calls == 1
    assert client.calls == 1
    with pytest.raises(ViesSkipped):  # marked as cooling down: not called
        await client.check("SK2020000000")
    assert client.calls == 1
    assert fake.calls == []
    assert (await client.check("CZ12345674")).valid


async def test_check_status_monitoring_disabled_and_vow_down(fake: FakeVies, http: httpx.AsyncClient) -> None:
    fake.monitoring_disabled_states = {"DE"}
    client = make_client(http, fake.url, clock=FakeClock())
    assert (await client.check_status())["DE"] is True  # not known to be unavailable
    fake.down = True
    status = await client.check_status()
    assert not any(status.values())
    with pytest.raises(ViesSkipped):
        await client.check("CZ12345674")
    assert fake.calls == []


# ---------------------------------------------------------------------- the fake itself


async def test_fake_test_service_and_malformed_request(fake: FakeVies, http: httpx.AsyncClient) -> None:
    url = fake.url + "/check-vat-test-service"
    valid = (await http.post(url, json={"countryCode": "DE", "vatNumber": "100"})).json()
    assert valid["valid"] is True
    assert valid["countryCode"] == "DE"
    assert valid["traderNameMatch"] == "NOT_PROCESSED"
    assert (await http.post(url, json={"countryCode": "DE", "vatNumber": "200"})).json()["valid"] is False
    other = await http.post(url, json={"countryCode": "DE", "vatNumber": "999"})
    assert other.status_code == 200
    assert other.json() == {"actionSucceed": False, "errorWrappers": [{"error": "SERVICE_UNAVAILABLE"}]}
    bad = await http.post(fake.url + "/check-vat-number", content=b"{not json")
    assert bad.status_code == 500
    assert bad.json() == {"actionSucceed": False, "errorWrappers": [{"error": "VOW-ERR-1"}]}
    assert (await http.get(fake.url + "/nope")).status_code == 404


async def test_a_new_caller_after_every_caller_cancelled_gets_a_fresh_lookup(
    fake: FakeVies, http: httpx.AsyncClient
) -> None:
    fake.latency_s = 0.1
    client = make_client(http, fake.url)
    first = asyncio.create_task(client.check("DE136695976"))
    await asyncio.sleep(0.03)
    first.cancel()  # its lookup is cancelled with it: nobody else was waiting
    await asyncio.sleep(0)
    assert (await client.check("DE136695976")).valid
    assert first.cancelled()
    assert client.calls == 2


async def test_fake_rejects_concurrency_above_its_limits(http: httpx.AsyncClient) -> None:
    """So the limits test above would notice a breach."""
    with FakeVies(latency_s=0.1, per_state_limit=1, default_valid=True) as vies:
        url = vies.url + "/check-vat-number"
        bodies = await asyncio.gather(
            *(http.post(url, json={"countryCode": "DE", "vatNumber": f"10000000{i}"}) for i in range(3))
        )
    errors = [b.json()["errorWrappers"][0]["error"] for b in bodies if "errorWrappers" in b.json()]
    assert errors == ["MS_MAX_CONCURRENT_REQ", "MS_MAX_CONCURRENT_REQ"]
    assert vies.max_in_flight["DE"] >= 2


async def test_fake_random_errors_are_seeded(http: httpx.AsyncClient) -> None:
    def draws(vies: FakeVies) -> list[str]:
        return [vies._decide("/check-vat-number", "DE", f"1000{i}") for i in range(40)]

    with FakeVies(error_rate=0.3, error_code="SERVER_BUSY", seed=7) as vies:
        first = draws(vies)
        vies.seed = 7
        assert draws(vies) == first
    assert 0 < first.count("SERVER_BUSY") < 40


async def test_fake_keeps_a_timed_out_request_in_its_slot(http: httpx.AsyncClient) -> None:
    """As VIES does: the client's timeout does not end the work, so a request re-sent at once is over the limit."""
    with FakeVies(mode="slow", slow_s=0.4, per_state_limit=1, default_valid=True) as vies:
        url = vies.url + "/check-vat-number"
        body = {"countryCode": "DE", "vatNumber": "136695976"}
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            await http.post(url, json=body, timeout=0.1)
        vies.mode = "ok"
        again = await http.post(url, json=body)
        assert again.json()["errorWrappers"][0]["error"] == "MS_MAX_CONCURRENT_REQ"
        await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - started)))  # the slow one is done by now
        assert (await http.post(url, json=body)).json()["valid"] is True
    assert vies.outcomes == {"valid": 2, "MS_MAX_CONCURRENT_REQ": 1}  # the first was answered, to nobody


async def test_fake_slow_rate_is_seeded(http: httpx.AsyncClient) -> None:
    with FakeVies(slow_rate=0.3, seed=3) as vies:
        first = [vies._slow() for _ in range(40)]
        vies.seed = 3
        assert [vies._slow() for _ in range(40)] == first
        assert 0 < first.count(True) < 40
        vies.mode = "slow"
        assert all(vies._slow() for _ in range(5))
