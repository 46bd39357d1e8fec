from datetime import timedelta

import pytest
from pydantic import SecretStr

from connectors.crm import CONNECTORS, CredentialsRejected, VismaConnector
from tests.fakes.crm_server import (
    EPOCH,
    LEMONSOFT_LOGIN,
    LEMONSOFT_SESSION,
    FakeCRM,
    LemonsoftFake,
    lemonsoft_record,
)
from tests.fakes.recorded import recorded

SWAGGER_EXAMPLE = recorded("lemonsoft_customer_model.json")


def connector(fake, http, credential=LEMONSOFT_SESSION, **kwargs) -> VismaConnector:
    return VismaConnector(fake.url, SecretStr(credential), http, **kwargs)


async def read(conn, kind="customers", since=None):
    return [page async for page in conn.pages(kind, since)]


def test_registered():
    assert CONNECTORS["visma"] is VismaConnector
    assert VismaConnector.kinds == ("customers", "suppliers")


def test_swagger_model_maps_to_both_kinds():
    record = {
        **SWAGGER_EXAMPLE,
        "number": 42,
        "name": "Oy Esimerkki Ab",
        "name2": "Tampere",
        "is_nonactive": False,
    }
    (customer,) = VismaConnector.parse_saved_page({"results": [record], "result_count": 1}, "customers")
    assert customer.external_id == "42"
    assert customer.payload == {
        "customer_number": 42,
        "name": "Oy Esimerkki Ab Tampere",
        "email": "string",
        "phone": "string",
        "vat_number": "string",
        "country": "string",
        "address_line1": "string",
        "address_line2": "string",
        "postal_code": "string",
        "city": "string",
    }
    assert customer.modified_at is not None
    assert customer.modified_at.isoformat() == "2025-06-30T13:43:45.390000+00:00"
    (supplier,) = VismaConnector.parse_saved_page({"data": [record]}, "suppliers")
    assert supplier.payload["supplier_number"] == 42
    assert (supplier.payload["iban"], supplier.payload["bic"]) == ("string", "string")


def test_kind_flags_and_archived():
    customer_only = {**lemonsoft_record(1), "is_nonactive": True}
    assert VismaConnector.parse_saved_page([customer_only], "suppliers") == []
    (record,) = VismaConnector.parse_saved_page([customer_only], "customers")
    assert record.archived is True
    supplier_only = lemonsoft_record(2)
    assert (supplier_only["is_customer"], supplier_only["is_supplier"]) == (False, True)
    assert VismaConnector.parse_saved_page([supplier_only], "customers") == []
    no_number = {**lemonsoft_record(4), "number": None}
    assert VismaConnector.parse_saved_page([no_number], "customers")[0].external_id == str(no_number["id"])


async def test_reads_customers_and_suppliers_from_one_endpoint(http):
    records = [lemonsoft_record(i) for i in range(24)]
    with FakeCRM(LemonsoftFake(), {"customers": records}) as fake:
        conn = connector(fake, http, page_size=5)
        customers = [r for p in await read(conn) for r in p]
        suppliers = [r for p in await read(conn, "suppliers") for r in p]
    assert [r.external_id for r in customers] == [str(x["number"]) for x in records if x["is_customer"]]
    assert [r.external_id for r in suppliers] == [str(x["number"]) for x in records if x["is_supplier"]]
    assert [r.external_id for r in customers if r.archived] == [
        str(x["number"]) for x in records if x["is_nonactive"] and x["is_customer"]
    ]
    assert suppliers[0].payload["iban"] == records[0]["accounts"][0]["iban"]
    customer_pages = [r.query for r in fake.page_requests() if "filter.is_customer" in r.query]
    assert customer_pages[0] == {"filter.is_customer": "1", "filter.page": "1", "filter.page_size": "5"}
    assert fake.requests[0].headers["session-id"] == LEMONSOFT_SESSION


async def test_an_exactly_full_last_page_is_followed_by_an_empty_one(http):
    records = [r for r in map(lemonsoft_record, range(20)) if r["is_customer"]][:6]
    with FakeCRM(LemonsoftFake(), {"customers": records}) as fake:
        pages = await read(connector(fake, http, page_size=3))
    assert [len(p) for p in pages] == [3, 3, 0]


async def test_incremental_modified_after(http):
    records = [lemonsoft_record(i) for i in range(12)]
    with FakeCRM(LemonsoftFake(), {"customers": records}) as fake:
        since = EPOCH + timedelta(minutes=8, seconds=30)
        changed = [r for p in await read(connector(fake, http), since=since) for r in p]
    assert fake.requests[0].query["filter.modified_after"] == "2024-01-01T00:08:30Z"
    assert [r.external_id for r in changed] == [str(x["number"]) for x in records[9:] if x["is_customer"]]


async def test_login_with_username_password_database_apikey(http):
    with FakeCRM(LemonsoftFake(), {"customers": [lemonsoft_record(1)]}) as fake:
        conn = connector(fake, http, credential=LEMONSOFT_LOGIN)
        (page,) = await read(conn)
        await read(conn)  # the session is reused
    assert len(page) == 1
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/api/auth/login"),
        ("GET", "/api/customers"),
        ("GET", "/api/customers"),
    ]
    assert fake.requests[1].headers["session-id"] == LEMONSOFT_SESSION


async def test_wrong_login_is_rejected(http):
    with FakeCRM(LemonsoftFake()) as fake:
        conn = connector(fake, http, credential="api-user:wrong:DEMO_DB:fake-lemonsoft-apikey")
        with pytest.raises(CredentialsRejected) as caught:
            await read(conn)
    assert str(caught.value) == "credentials rejected by Lemonsoft"
    assert "wrong" not in repr(caught.value)
