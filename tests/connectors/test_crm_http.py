"""The HTTP behaviour every connector shares (connectors/crm/base.py), exercised through e-conomic."""

import itertools
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from connectors.crm import CredentialsRejected, EconomicConnector, FatalError, RetriableError
from connectors.crm.base import RateLimiter, retry_after_seconds
from tests.fakes.crm_server import (
    ECONOMIC_CREDENTIAL,
    ECONOMIC_GRANT,
    EconomicFake,
    FakeCRM,
    economic_customer,
)
from tests.fakes.recorded import recorded


@pytest.fixture
async def client():
    async with httpx.AsyncClient(trust_env=False, timeout=2.0) as c:
        yield c


def serve(n=30, **kwargs) -> FakeCRM:
    return FakeCRM(EconomicFake(), {"customers": [economic_customer(i) for i in range(n)]}, **kwargs)


def connector(url, client, credential=ECONOMIC_CREDENTIAL, **kwargs) -> EconomicConnector:
    kwargs.setdefault("page_size", 10)
    conn = EconomicConnector(url, SecretStr(credential), client, **kwargs)
    conn.backoff_initial_s = 0.05  # keep the suite fast; the production default is 0.5 s
    return conn


async def read_all(conn):
    return [r for page in [p async for p in conn.pages("customers")] for r in page]


async def timed_read(conn):
    started = time.monotonic()
    records = await read_all(conn)
    return records, time.monotonic() - started


def statuses(fake, page):
    return [r.status for r in fake.requests if r.page == page]


async def test_429_honours_retry_after(client):
    with serve(fail_pages={2: [429]}, retry_after="1") as fake:
        records, elapsed = await timed_read(connector(fake.url, client))
    assert len(records) == 30
    assert statuses(fake, 2) == [429, 200]
    assert elapsed >= 1.0


async def test_retry_after_is_capped(client):
    with serve(fail_pages={1: [429]}, retry_after="3600") as fake:
        records, elapsed = await timed_read(connector(fake.url, client, max_retry_after_s=0.3))
    assert len(records) == 30
    assert 0.3 <= elapsed < 2


def test_retry_after_forms():
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after_seconds(httpx.Response(429, headers={"Retry-After": later})) or 0) <= 30
    body = recorded("eaccounting_error_429.json")
    assert retry_after_seconds(httpx.Response(429, json=body)) == 55
    assert retry_after_seconds(httpx.Response(429)) is None


@pytest.mark.parametrize("failures", [[500, 500], ["broken_json"], ["disconnect"], [503, "broken_json"]])
async def test_transient_failures_are_retried(client, failures):
    with serve(fail_pages={2: list(failures)}) as fake:
        records = await read_all(connector(fake.url, client))
    assert [r.external_id for r in records] == [str(n) for n in range(1, 31)]
    assert len([r for r in fake.requests if r.page == 2]) == len(failures) + 1


async def test_timeouts_are_retried():
    async with httpx.AsyncClient(trust_env=False, timeout=0.2) as short:
        with serve(fail_pages={1: ["sleep:0.5"]}) as fake:
            records = await read_all(connector(fake.url, short))
    assert len(records) == 30


async def test_persistent_500_gives_up_after_the_budget(client):
    with serve(die_at_page=2) as fake:
        conn = connector(fake.url, client, retry_budget_s=1.0)
        pages = []

        async def collect():
            async for page in conn.pages("customers"):
                pages.append(page)

        started = time.monotonic()
        with pytest.raises(RetriableError) as caught:
            await collect()
        elapsed = time.monotonic() - started
    assert len(pages) == 1  # page 1 was delivered before page 2 died
    assert elapsed < 2.5
    assert len(statuses(fake, 2)) >= 3
    assert set(statuses(fake, 2)) == {500}
    assert str(caught.value).startswith("e-conomic: HTTP 500")
    assert "gave up after" in str(caught.value)
    assert caught.value.response is not None
    assert caught.value.response.status_code == 500


async def test_401_is_rejected_at_once_without_leaking_the_secret(client):
    wrong = "app-secret-XYZ:wrong-grant-QRS"
    with serve() as fake:
        conn = connector(fake.url, client, credential=wrong)
        with pytest.raises(CredentialsRejected) as caught:
            await read_all(conn)
    assert str(caught.value) == "credentials rejected by e-conomic"
    assert len(fake.requests) == 1
    for text in (str(caught.value), repr(caught.value), repr(conn), repr(conn.credential)):
        assert "XYZ" not in text
        assert "QRS" not in text


async def test_credentials_expiring_mid_read(client):
    with serve(latency_s=0.0) as fake:
        conn = connector(fake.url, client)
        pages = conn.pages("customers")
        await anext(pages)
        fake.expire_credentials()
        with pytest.raises(CredentialsRejected, match=r"^credentials rejected by e-conomic$"):
            await anext(pages)
    assert [r.status for r in fake.requests] == [200, 401]


async def test_other_4xx_is_fatal_with_the_body_message(client):
    with serve(fail_pages={1: [404]}) as fake, pytest.raises(FatalError) as caught:
        await read_all(connector(fake.url, client))
    assert not isinstance(caught.value, CredentialsRejected)
    assert "e-conomic: HTTP 404" in str(caught.value)
    assert "Injected failure." in str(caught.value)
    assert len(fake.requests) == 1


async def test_validation_error_shape_is_flattened(client):
    body = recorded("economic_error_400_validation.json")
    transport = httpx.MockTransport(lambda request: httpx.Response(400, json=body))
    async with httpx.AsyncClient(transport=transport) as mock:
        with pytest.raises(FatalError) as caught:
            await read_all(connector("https://restapi.e-conomic.com", mock))
    message = str(caught.value)
    assert message.startswith("e-conomic: HTTP 400 Bad Request: Validation error.")
    assert "(Inspect validation errors and correct your request.)" in message
    assert "currency: currency does not exist." in message
    assert "lines[0].unitNetPrice: unitNetPrice scale cannot be greater then two decimal places." in message


async def test_an_echoed_secret_is_scrubbed_from_messages():
    body = {"message": f"Unknown grant token {ECONOMIC_GRANT}"}
    transport = httpx.MockTransport(lambda request: httpx.Response(400, json=body))
    async with httpx.AsyncClient(transport=transport) as mock:
        with pytest.raises(FatalError) as caught:
            await read_all(connector("https://restapi.e-conomic.com", mock))
    assert ECONOMIC_GRANT not in str(caught.value)
    assert "***" in str(caught.value)


async def test_unexpected_envelope_is_fatal():
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"items": []}))
    async with httpx.AsyncClient(transport=transport) as mock:
        with pytest.raises(FatalError, match="unexpected page envelope"):
            await read_all(connector("https://restapi.e-conomic.com", mock))


async def test_a_repeating_next_page_is_fatal_not_a_loop(client):
    fake_system = EconomicFake()
    fake_system.repeat_next_page = True
    customers = [economic_customer(i) for i in range(30)]
    with (
        FakeCRM(fake_system, {"customers": customers}) as fake,
        pytest.raises(FatalError, match="e-conomic returned the same page twice"),
    ):
        await read_all(connector(fake.url, client))
    assert len(fake.requests) == 1  # the first nextPage already points back at skippages=0


async def test_rate_limit_spaces_requests():
    sent: list[float] = []

    async def on_request(request: httpx.Request) -> None:
        sent.append(time.monotonic())

    async with httpx.AsyncClient(trust_env=False, timeout=2.0, event_hooks={"request": [on_request]}) as client:
        with serve(n=30) as fake:
            await read_all(connector(fake.url, client, rate_per_minute=120))
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert len(gaps) == 2
    assert min(gaps) >= 0.48, gaps  # 120/min = one every 0.5 s (a few ms of client-side jitter allowed)
    assert fake.max_concurrent == 1


async def test_rate_limiter_spacing_is_strict():
    limiter = RateLimiter(per_minute=600)
    times = []
    for _ in range(4):
        await limiter.acquire()
        times.append(time.monotonic())
    assert all(b - a >= 0.099 for a, b in itertools.pairwise(times))
