import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from connectors.crm import CONNECTORS, VismaEAccountingConnector
from tests.fakes.crm_server import EACCOUNTING_TOKEN, EPOCH, EAccountingFake, FakeCRM, eaccounting_customer
from tests.fakes.recorded import recorded

SAMPLE_PAGE = recorded("eaccounting_customers_page_shape.json")


def connector(fake, http, **kwargs) -> VismaEAccountingConnector:
    return VismaEAccountingConnector(fake.url, SecretStr(EACCOUNTING_TOKEN), http, **kwargs)


async def read(conn, since=None):
    return [page async for page in conn.pages("customers", since)]


def test_registered_with_the_documented_rate_limit(http):
    assert CONNECTORS["visma-eaccounting"] is VismaEAccountingConnector
    conn = VismaEAccountingConnector("http://127.0.0.1:9", SecretStr("t"), http)
    assert conn.limiter is not None
    assert conn.limiter.interval == pytest.approx(0.1)


def test_sample_page_maps_field_by_field():
    (record,) = VismaEAccountingConnector.parse_saved_page(SAMPLE_PAGE, "customers")
    assert record.external_id == "00000000-0000-0000-0000-000000000001"
    assert record.modified_at == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert record.archived is False
    assert record.payload == {
        "customer_number": "1",
        "name": "Exempel AB",
        "email": "faktura@exempel.se",
        "phone": None,
        "org_number": "556036-0793",
        "vat_number": "SE556036079301",
        "country": "SE",
        "address_line1": "Gatan 1",
        "address_line2": None,
        "postal_code": "11418",
        "city": "Stockholm",
        "notes": None,
        "is_person": False,
    }


def test_private_person_inactive_note_and_payment_days():
    raw = {**eaccounting_customer(12), "IsPrivatePerson": True, "TermsOfPayment": {"NumberOfDays": 30}}
    (record,) = VismaEAccountingConnector.parse_saved_page([raw], "customers")
    assert record.payload["is_person"] is True
    assert record.archived is True  # IsActive false
    assert record.payload["notes"] == "Kund sedan 2019"
    assert record.payload["default_payment_terms"] == 30
    assert raw["Telephone"] is None
    assert record.payload["phone"] == raw["MobilePhone"]


async def test_pages_by_meta(http):
    with FakeCRM(EAccountingFake(), {"customers": [eaccounting_customer(i) for i in range(7)]}) as fake:
        pages = await read(connector(fake, http, page_size=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r.query for r in fake.page_requests()] == [{"$page": str(n), "$pagesize": "3"} for n in (1, 2, 3)]
    assert fake.requests[0].headers["authorization"] == f"Bearer {EACCOUNTING_TOKEN}"


async def test_a_server_capped_page_size_still_reads_everything(http):
    with FakeCRM(EAccountingFake(max_page_size=2), {"customers": [eaccounting_customer(i) for i in range(7)]}) as fake:
        pages = await read(connector(fake, http, page_size=5))
    assert [len(p) for p in pages] == [2, 2, 2, 1]


async def test_incremental_changed_utc_filter(http):
    with FakeCRM(EAccountingFake(), {"customers": [eaccounting_customer(i) for i in range(10)]}) as fake:
        changed = [r for p in await read(connector(fake, http), EPOCH + timedelta(minutes=6, seconds=59)) for r in p]
    assert fake.requests[0].query["$filter"] == "ChangedUtc gt 2024-01-01T00:06:59Z"
    assert [r.payload["customer_number"] for r in changed] == ["8", "9", "10"]


async def test_429_without_retry_after_waits_what_the_body_says_capped(http):
    with FakeCRM(EAccountingFake(), {"customers": [eaccounting_customer(0)]}, fail_pages={1: [429]}) as fake:
        fake.retry_after = None  # only the body's "Try again in 55 seconds."
        started = time.monotonic()
        pages = await read(connector(fake, http, max_retry_after_s=0.3))
        elapsed = time.monotonic() - started
    assert len(pages[0]) == 1
    assert [r.status for r in fake.requests] == [429, 200]
    assert 0.3 <= elapsed < 2
