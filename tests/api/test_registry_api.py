"""The registry endpoints over real HTTP: envelope, errors, idempotency, scopes, tenancy."""

import asyncio
import time
import uuid
from collections.abc import Callable

import asyncpg
import pytest

from tests.api.conftest import Served
from tests.conftest import PG_URL
from tests.fakes.rows import org_number, vat_number

ACME = "/api/v1/companies/acme"
SUPPLIER = {"name": "Lev AB", "country": "SE"}


def acme_customer(i: int, **fields: object) -> dict[str, object]:
    return {"name": f"Kund {i} AB", "customer_type": "swedish_business", "org_number": org_number(i), **fields}


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def test_health_readiness_and_the_schema(api: Served) -> None:
    with api.client() as http:
        assert http.get("/healthz").json()["data"] == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["data"]["checks"] == {"database": "ok"}
        spec = http.get("/openapi.json").json()
        assert {f"{ACME.replace('acme', '{companyId}')}/customers/bulk-create", "/readyz"} <= spec["paths"].keys()


def test_a_customer_is_created_once_per_key_and_read_back(api: Served) -> None:
    key = api.key("acme", "customers:write")
    with api.client(key) as http:
        missing = http.post(f"{ACME}/customers", json=acme_customer(1))
        assert missing.status_code == 400
        assert missing.json()["error"] == {
            "code": "VALIDATION_ERROR", "message": "the Idempotency-Key header is required", "field": "Idempotency-Key"
        }  # fmt: skip
        headers = idem()
        made = http.post(f"{ACME}/customers", json=acme_customer(1, default_payment_terms=30), headers=headers)
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["meta"]["api_version"] == "2026-05-12" and body["meta"]["request_id"].startswith("req_")
        record = body["data"]
        assert (record["name"], record["org_number"], record["default_payment_terms"]) == (
            "Kund 1 AB",
            org_number(1),
            30,
        )
        again = http.post(f"{ACME}/customers", json=acme_customer(1, default_payment_terms=30), headers=headers)
        assert (again.status_code, again.json()["data"]["id"]) == (201, record["id"])
        other = http.post(f"{ACME}/customers", json=acme_customer(2), headers=headers)
        assert (other.status_code, other.json()["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
        duplicate = http.post(f"{ACME}/customers", json=acme_customer(1), headers=idem())
        assert (duplicate.status_code, duplicate.json()["error"]["code"]) == (409, "CUSTOMER_DUPLICATE_ORG_NUMBER")
        invalid = http.post(f"{ACME}/customers", json={"name": "X", "customer_type": "alien"}, headers=idem())
        assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "VALIDATION_ERROR")
        assert invalid.json()["error"]["field"] == "customer_type"
        preview = http.post(f"{ACME}/customers", params={"dry_run": "true"}, json=acme_customer(3), headers=idem())
        assert preview.status_code == 200 and "id" not in preview.json()["data"]
        assert http.get(f"{ACME}/customers/{record['id']}").status_code == 200  # a key reads what it may write
        assert http.get(f"{ACME}/suppliers").status_code == 403
    reader = api.key("acme", "customers:read")
    with api.client(reader) as http:
        got = http.get(f"{ACME}/customers/{record['id']}").json()["data"]
        assert got["id"] == record["id"] and got["vat_number_validated"] is False
        assert got["created_at"].endswith("+00:00")
        listed = http.get(f"{ACME}/customers").json()
        assert [c["name"] for c in listed["data"]] == ["Kund 1 AB"]  # the dry run wrote nothing
        assert http.get(f"{ACME}/customers/{uuid.uuid4()}").json()["error"]["code"] == "NOT_FOUND"


def test_bulk_create_is_partial_idempotent_over_the_batch_and_bounded(api: Served) -> None:
    key = api.key("acme", "customers:write,customers:read")
    items = [acme_customer(i) for i in range(48)]
    items.append({"name": "Ohne Nummer GmbH", "customer_type": "eu_business", "vat_number": vat_number("DE", 1)})
    items.append(acme_customer(0))  # the file's first row again
    headers = idem()
    with api.client(key) as http:
        first = http.post(f"{ACME}/customers/bulk-create", json={"customers": items}, headers=headers)
        assert first.status_code == 200, first.text
        data = first.json()["data"]
        assert data["summary"] == {"total": 50, "succeeded": 49, "failed": 1}
        assert data["results"][49]["error"]["code"] == "CUSTOMER_DUPLICATE_ORG_NUMBER"
        replay = http.post(f"{ACME}/customers/bulk-create", json={"customers": items}, headers=headers)
        assert replay.json()["data"] == data
        changed = http.post(f"{ACME}/customers/bulk-create", json={"customers": items[:10]}, headers=headers)
        assert (changed.status_code, changed.json()["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
        too_many = http.post(f"{ACME}/customers/bulk-create", json={"customers": items + items[:1]}, headers=idem())
        assert (too_many.status_code, too_many.json()["error"]["code"]) == (422, "VALIDATION_ERROR")
        whole = http.post(
            f"{ACME}/customers/bulk-create", json={"customers": items[:1], "all_or_nothing": True}, headers=idem()
        )
        assert (whole.status_code, whole.json()["error"]["code"]) == (501, "NOT_IMPLEMENTED")
        pages, cursor = [], None
        while True:
            page = http.get(f"{ACME}/customers", params={"limit": 20, **({"cursor": cursor} if cursor else {})}).json()
            pages.append(len(page["data"]))
            cursor = page["meta"]["next_cursor"]
            if cursor is None:
                break
        assert pages == [20, 20, 9]


def test_a_key_still_in_flight_is_refused_with_409(api: Served) -> None:
    """Another transaction holds the key (a request with it is being written): the second is told so at once."""
    key, headers = api.key("acme", "suppliers:write"), idem()
    held = f"api:suppliers:bulk:{headers['Idempotency-Key']}"

    async def hold_and_call() -> tuple[int, str]:
        conn = await asyncpg.connect(PG_URL)
        try:
            async with conn.transaction():
                assert await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", f"acme:{held}")
                with api.client(key) as http:
                    answer = await asyncio.to_thread(
                        http.post, f"{ACME}/suppliers/bulk-create", json={"suppliers": [SUPPLIER]},
                        headers=headers,
                    )  # fmt: skip
                return answer.status_code, answer.json()["error"]["code"]
        finally:
            await conn.close()

    assert asyncio.run(hold_and_call()) == (409, "IDEMPOTENCY_KEY_IN_FLIGHT")
    with api.client(key) as http:  # once it is let go, the key works
        done = http.post(f"{ACME}/suppliers/bulk-create", json={"suppliers": [SUPPLIER]}, headers=headers)
        assert done.json()["data"]["summary"]["succeeded"] == 1


def test_keys_scopes_and_companies(api: Served) -> None:
    acme, other = api.key("acme", "customers:write"), api.key("globex", "customers:read,customers:write")
    with api.client(acme) as http:
        made = http.post(f"{ACME}/customers", json=acme_customer(7), headers=idem()).json()["data"]
    with api.client() as http:
        anonymous = http.get(f"{ACME}/customers")
        assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "UNAUTHORIZED")
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    with api.client("rsk_not-a-key") as http:
        assert http.get(f"{ACME}/customers").status_code == 401
    with api.client(other) as http:
        for path in (f"{ACME}/customers", f"{ACME}/customers/{made['id']}"):
            answer = http.get(path)
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "NOT_FOUND"), path
            assert made["id"] not in answer.text
        assert http.get(f"{ACME.replace('acme', 'globex')}/customers/{made['id']}").status_code == 404
        assert http.get(f"{ACME.replace('acme', 'globex')}/customers").json()["data"] == []
    read_only = api.key("acme", "customers:read")
    with api.client(read_only) as http:
        refused = http.post(f"{ACME}/customers", json=acme_customer(8), headers=idem())
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "FORBIDDEN")
        assert http.get(f"{ACME}/suppliers").status_code == 403


def test_listings_mask_personnummer_and_search(api: Served) -> None:
    key = api.key("acme", "customers:write")
    person = {"name": "Anna Andersson", "customer_type": "individual", "org_number": "19811218-9876", "country": "SE"}
    with api.client(key) as http:
        made = http.post(f"{ACME}/customers", json=person, headers=idem())
        assert made.status_code == 201, made.text
        http.post(f"{ACME}/customers", json=acme_customer(9), headers=idem())
    with api.client(api.key("acme", "customers:read")) as http:
        listed = http.get(f"{ACME}/customers", params={"search": "anna"}).json()["data"]
        assert len(listed) == 1 and "9876" not in listed[0]["org_number"]
        assert "19811218-9876" not in http.get(f"{ACME}/customers").text


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        ("{not json", "VALIDATION_ERROR", 422),
        ("[1, 2]", "VALIDATION_ERROR", 422),
        ('{"customers": [' + ",".join(['{"name": "' + "x" * 1000 + '"}'] * 1100) + "]}", "TOO_LARGE", 413),
    ],
    ids=["broken JSON", "not an object", "over a mebibyte"],
)
def test_bad_bodies_get_the_error_envelope(api: Served, body: str, code: str, status: int) -> None:
    key = api.key("acme", "customers:write")
    with api.client(key) as http:
        answer = http.post(
            f"{ACME}/customers/bulk-create", content=body, headers={**idem(), "Content-Type": "application/json"}
        )
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
        assert answer.headers["X-Request-Id"] == answer.json()["meta"]["request_id"]
        assert "Traceback" not in answer.text
        assert http.get("/api/v1/nowhere").json()["error"]["code"] == "NOT_FOUND"


def test_the_embedded_default_serves_too(sqlite_api: Served) -> None:
    key = sqlite_api.key("acme", "suppliers:write,imports:write")
    with sqlite_api.client(key) as http:
        made = http.post(f"{ACME}/suppliers", json={**SUPPLIER, "org_number": org_number(3)}, headers=idem())
        assert made.status_code == 201, made.text
        assert [s["name"] for s in http.get(f"{ACME}/suppliers").json()["data"]] == ["Lev AB"]
        upload = "Namn;Organisationsnummer;Land\r\nNorr Åkeri AB;556036-0793;Sverige\r\n".encode("cp1252")
        run = http.post(f"{ACME}/imports", files={"file": ("lev.csv", upload)}, data={"kind": "suppliers"})
        assert run.status_code == 201, run.text
        deadline = time.monotonic() + 30
        while (state := http.get(f"{ACME}/imports/{run.json()['data']['id']}").json()["data"])["finished_at"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert (state["state"], state["created"]) == ("succeeded", 1)


def test_readiness_names_what_is_missing(serve: Callable[..., Served]) -> None:
    api = serve(redis_url="redis://127.0.0.1:1/0")
    with api.client() as http:
        ready = http.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["data"]["checks"]
        assert checks["database"] == "ok" and "127.0.0.1:1" in checks["redis"]
        assert http.get("/healthz").status_code == 200


def test_patch_changes_what_it_names_once_per_key_and_delete_archives(api: Served) -> None:
    key = api.key("acme", "customers:write")
    with api.client(key) as http:
        one = http.post(f"{ACME}/customers", json=acme_customer(1), headers=idem()).json()["data"]
        two = http.post(f"{ACME}/customers", json=acme_customer(2), headers=idem()).json()["data"]
        path = f"{ACME}/customers/{one['id']}"
        assert http.patch(path, json={"default_payment_terms": 14}).status_code == 400  # no Idempotency-Key
        headers = idem()
        patched = http.patch(path, json={"default_payment_terms": 14, "notes": "New terms."}, headers=headers)
        assert patched.status_code == 200, patched.text
        record = patched.json()["data"]
        assert (record["default_payment_terms"], record["notes"], record["name"]) == (14, "New terms.", "Kund 1 AB")
        assert record["updated_at"] > one["updated_at"]
        again = http.patch(path, json={"default_payment_terms": 14, "notes": "New terms."}, headers=headers)
        assert again.json()["data"] == record
        other = http.patch(path, json={"default_payment_terms": 60}, headers=headers)
        assert (other.status_code, other.json()["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
        taken = http.patch(path, json={"org_number": two["org_number"]}, headers=idem())
        assert (taken.status_code, taken.json()["error"]["code"]) == (409, "CUSTOMER_DUPLICATE_ORG_NUMBER")
        bad = http.patch(path, json={"email": "not an address"}, headers=idem())
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "email")
        unknown = http.patch(path, json={"id": str(uuid.uuid4())}, headers=idem())
        assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "id")
        preview = http.patch(path, params={"dry_run": "true"}, json={"notes": None}, headers=idem()).json()["data"]
        assert preview["notes"] is None
        assert http.get(path).json()["data"]["notes"] == "New terms."  # the dry run wrote nothing
        eu = {"customer_type": "eu_business", "country": "DE", "vat_number": vat_number("DE", 2), "org_number": None}
        moved = http.patch(path, json=eu, headers=idem()).json()["data"]
        assert (moved["vat_check_status"], moved["vat_number_validated"]) == ("pending", False)

        assert http.delete(path).status_code == 400
        assert http.delete(path, headers=idem()).status_code == 204
        assert http.delete(path, headers=idem()).status_code == 204  # archiving an archived one: a no-op
        active = http.get(f"{ACME}/customers").json()["data"]
        assert [c["id"] for c in active] == [two["id"]]
        everyone = http.get(f"{ACME}/customers", params={"include_archived": "true"}).json()["data"]
        assert {c["id"] for c in everyone} == {one["id"], two["id"]}
        back = http.patch(path, json={"archived_at": None}, headers=idem()).json()["data"]
        assert back["archived_at"] is None
    with api.client(api.key("globex", "customers:write")) as http:
        assert http.delete(f"/api/v1/companies/globex/customers/{one['id']}", headers=idem()).status_code == 404
        assert http.patch(f"/api/v1/companies/globex/customers/{one['id']}", json={}, headers=idem()).status_code == 404
