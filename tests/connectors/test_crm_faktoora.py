from datetime import timedelta

import pytest
from pydantic import SecretStr

from connectors.crm import CONNECTORS, FaktooraConnector, FatalError
from tests.fakes.crm_server import EPOCH, FAKTOORA_API_KEY, FakeCRM, FaktooraFake, faktoora_customer

# The company from faktoora's documented "Create a company customer" example, as the list would return it.
ACME = {
    "id": "cust_abc123",
    "customerId": "CUST-0042",
    "isCompany": True,
    "name": "Acme GmbH",
    "address": "Musterstraße 1",
    "postcode": "10115",
    "city": "Berlin",
    "country": "DE",
    "email": "billing@acme.example.com",
    "vatId": "DE123456789",
    "taxId": "21/815/08150",
    "extras": {},
    "updatedAt": "2024-03-01T08:00:00.000Z",
}


def connector(fake, http, **kwargs) -> FaktooraConnector:
    return FaktooraConnector(fake.url, SecretStr(FAKTOORA_API_KEY), http, **kwargs)


async def read(conn, since=None):
    return [page async for page in conn.pages("customers", since)]


def test_registered_customers_only():
    assert CONNECTORS["faktoora"] is FaktooraConnector
    assert FaktooraConnector.kinds == ("customers",)


def test_company_maps_field_by_field():
    (acme,) = FaktooraConnector.parse_saved_page({"data": [ACME], "meta": {"page": 1}}, "customers")
    assert acme.external_id == "cust_abc123"
    assert acme.modified_at is not None
    assert acme.modified_at.isoformat() == "2024-03-01T08:00:00+00:00"
    assert acme.archived is False
    assert acme.payload == {
        "customer_number": "CUST-0042",
        "name": "Acme GmbH",
        "first_name": None,
        "last_name": None,
        "email": "billing@acme.example.com",
        "phone": None,
        "vat_number": "DE123456789",
        "country": "DE",
        "address_line1": "Musterstraße 1",
        "postal_code": "10115",
        "city": "Berlin",
        "is_person": False,
    }
    assert acme.raw["taxId"] == "21/815/08150"  # Steuernummer: raw only, not org_number/notes


def test_person_gives_name_hints():
    person = faktoora_customer(3)
    (record,) = FaktooraConnector.parse_saved_page([person], "customers")
    assert record.payload["is_person"] is True
    assert record.payload["name"] is None
    assert (record.payload["first_name"], record.payload["last_name"]) == ("Anna", "Schmidt")


async def test_full_read_pages_in_creation_order(http):
    customers = [faktoora_customer(i) for i in range(7)]
    with FakeCRM(FaktooraFake(), {"customers": list(reversed(customers))}) as fake:
        pages = await read(connector(fake, http, page_size=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r.external_id for p in pages for r in p] == [c["id"] for c in customers]
    assert [r.query for r in fake.page_requests()] == [
        {"sort": "createdAt", "order": "asc", "page": str(n), "perPage": "3"} for n in (1, 2, 3)
    ]
    assert fake.requests[0].headers["x-api-key"] == FAKTOORA_API_KEY


async def test_meta_total_pages_ends_the_read_without_an_extra_request(http):
    with FakeCRM(FaktooraFake(), {"customers": [faktoora_customer(i) for i in range(6)]}) as fake:
        pages = await read(connector(fake, http, page_size=3))
    assert [len(p) for p in pages] == [3, 3]
    assert len(fake.page_requests()) == 2


async def test_bare_list_envelope(http):
    with FakeCRM(FaktooraFake(bare_list=True), {"customers": [faktoora_customer(i) for i in range(6)]}) as fake:
        pages = await read(connector(fake, http, page_size=3))
    assert [len(p) for p in pages] == [3, 3, 0]  # without meta an empty page ends the read


async def test_incremental_reads_newest_first_and_stops_at_older_records(http):
    with FakeCRM(FaktooraFake(), {"customers": [faktoora_customer(i) for i in range(20)]}) as fake:
        conn = connector(fake, http, page_size=3)
        since = EPOCH + timedelta(minutes=15, seconds=30)
        pages = await read(conn, since)
        assert [r.external_id for p in pages for r in p] == [faktoora_customer(i)["id"] for i in (19, 18, 17, 16)]
        assert [r.query["page"] for r in fake.page_requests()] == ["1", "2"]  # page 2 held an older record
        assert fake.requests[0].query["sort"] == "updatedAt"
        assert fake.requests[0].query["order"] == "desc"

        fake.change("customers", "cust_000002", email="neu@kunde.example", at=EPOCH + timedelta(days=1))
        changed = [r for p in await read(conn, since) for r in p]
        assert changed[0].external_id == "cust_000002"
        assert changed[0].payload["email"] == "neu@kunde.example"
        assert len(changed) == 5


async def test_suppliers_are_not_offered(http):
    conn = FaktooraConnector("http://127.0.0.1:9", SecretStr(FAKTOORA_API_KEY), http)
    with pytest.raises(FatalError, match="faktoora has no suppliers"):
        await anext(conn.pages("suppliers"))
    assert conn.map_record(ACME, "suppliers") is None
