"""bulk_create against real Postgres and SQLite: the API's partial-success and idempotency rules."""

import asyncio
import hashlib
import marshal
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select

from registry.bulk import (
    AllOrNothingNotImplemented,
    IdempotencyKeyReused,
    TooManyItems,
    bulk_create,
    bulk_create_many,
    write,
)
from registry.fields import Kind
from registry.items import Rejected, validate
from registry.plan import prepare, request_hash
from registry.tables import customers, idempotency_keys, suppliers
from tests.fakes.rows import org_number

ACME = {"name": "Acme AB", "customer_type": "swedish_business", "org_number": "556677-8899"}
FOO = {"name": "Foo OY", "customer_type": "eu_business", "vat_number": "FI20774740", "country": "FI"}


async def count(engine: Any, table: Any, company: str = "c1") -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).where(table.c.company_id == company))).scalar_one()


async def create(engine: Any, items: list[dict[str, Any]], key: str = "k1", **kw: Any) -> dict[str, Any]:
    async with engine.begin() as conn:
        result = await bulk_create(
            conn, kw.pop("company", "c1"), kw.pop("kind", "customers"), items, idempotency_key=key, **kw
        )
        return result.response()


async def test_partial_success_reports_each_item(engine: Any) -> None:
    await create(engine, [ACME], key="first")
    items = [
        FOO,
        {**ACME, "name": "Acme again"},  # org number exists already
        {"name": "Bad AB", "org_number": "556677-8898", "country": "SE"},  # checksum
    ]
    response = await create(engine, items, key="second")
    results = response["results"]
    assert response["summary"] == {"total": 3, "succeeded": 1, "failed": 2}
    assert [r["request_index"] for r in results] == [0, 1, 2]
    assert results[0]["ok"] and results[0]["data"]["name"] == "Foo OY"
    assert results[1]["error"]["code"] == "CUSTOMER_DUPLICATE_ORG_NUMBER"
    assert results[2]["error"]["code"] == "VALIDATION_ERROR"
    assert "org_number" in results[2]["error"]["fields"]
    assert await count(engine, customers) == 2


async def test_same_key_same_payload_replays_and_writes_nothing(engine: Any) -> None:
    first = await create(engine, [ACME, FOO])
    again = await create(engine, [ACME, FOO])
    assert again == first
    assert await count(engine, customers) == 2


async def test_a_batch_that_lost_rows_to_existing_org_numbers_replays_as_it_was(engine: Any) -> None:
    await create(engine, [ACME], key="earlier")
    first = await create(engine, [FOO, {**ACME, "name": "Acme again"}])
    assert [r["ok"] for r in first["results"]] == [True, False]
    again = await create(engine, [FOO, {**ACME, "name": "Acme again"}])
    assert again == first
    assert await count(engine, customers) == 2


async def test_a_key_stored_with_its_full_response_still_replays(engine: Any) -> None:
    """Keys written by an earlier version hold the whole response, not only the ids."""
    first = await create(engine, [ACME, {"name": "Bad AB", "org_number": "556677-8898", "country": "SE"}, FOO])
    async with engine.begin() as conn:
        await conn.execute(idempotency_keys.update().where(idempotency_keys.c.key == "k1").values(response=first))
    again = await create(engine, [ACME, {"name": "Bad AB", "org_number": "556677-8898", "country": "SE"}, FOO])
    assert again == first
    assert await count(engine, customers) == 2


def legacy_digest(kind: Kind, items: list[dict[str, Any]]) -> str:
    """The fingerprint keys were stored with before they stored ids only (migration 0005's era): each valid
    item's storable values as a {field: value} dict (`db_values()`), each invalid one as {"rejected": error}."""
    checked = [validate(kind, i) for i in items]
    plain = [{"rejected": c.error} if isinstance(c, Rejected) else dict(c.values) for c in checked]
    return hashlib.sha256(marshal.dumps(plain, 2)).hexdigest()


async def test_a_key_stored_before_the_upgrade_replays_the_same_payload(engine: Any) -> None:
    """A key written by the 0005-era code (its own fingerprint, the whole response) and replayed with the same
    payload after the upgrade returns the stored response and writes nothing; another payload is refused."""
    await create(engine, [{**ACME, "org_number": "556016-0680", "name": "Old AB"}], key="earlier")
    items = [
        ACME,
        {"name": "Bad AB", "org_number": "556677-8898", "country": "SE"},  # invalid
        FOO,
        {**ACME, "name": "Twin"},  # repeats item 0's org number
        {"name": "Again AB", "customer_type": "swedish_business", "org_number": "556016-0680"},  # exists
    ]
    first = await create(engine, items)
    assert [r["ok"] for r in first["results"]] == [True, False, True, False, False]
    async with engine.begin() as conn:  # the key as the old code stored it
        await conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.key == "k1")
            .values(request_hash=legacy_digest("customers", items), response=first)
        )
    rows, keys = await count(engine, customers), await count(engine, idempotency_keys)
    assert await create(engine, items) == first
    assert (await count(engine, customers), await count(engine, idempotency_keys)) == (rows, keys)
    for other in ([ACME, FOO], [*items[:4], {**items[4], "name": "Again AB 2"}]):
        with pytest.raises(IdempotencyKeyReused):
            await create(engine, other)
    assert await count(engine, customers) == rows


async def test_same_key_other_payload_is_refused(engine: Any) -> None:
    await create(engine, [ACME])
    with pytest.raises(IdempotencyKeyReused):
        await create(engine, [FOO])
    assert await count(engine, customers) == 1


async def test_key_and_rows_commit_together(engine: Any) -> None:
    """A crash before commit leaves neither rows nor key, so the retry creates the rows."""
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await bulk_create(conn, "c1", "customers", [ACME], idempotency_key="k")
            raise RuntimeError("process died")
    assert await count(engine, customers) == 0
    assert await count(engine, idempotency_keys) == 0
    response = await create(engine, [ACME], key="k")
    assert response["summary"]["succeeded"] == 1


async def test_first_item_with_an_org_number_wins_within_a_batch(engine: Any) -> None:
    response = await create(engine, [ACME, {**ACME, "name": "Twin"}])
    assert [r["ok"] for r in response["results"]] == [True, False]
    assert "item 0" in response["results"][1]["error"]["message"]


async def test_company_scopes_org_number_uniqueness(engine: Any) -> None:
    await create(engine, [ACME], company="c1")
    response = await create(engine, [ACME], company="c2")
    assert response["summary"]["succeeded"] == 1


async def test_dry_run_validates_writes_nothing_and_sees_duplicates(engine: Any) -> None:
    await create(engine, [ACME], key="real")
    response = await create(engine, [FOO, ACME], key="dry", dry_run=True)
    ok, dup = response["results"]
    assert ok["ok"] and "id" not in ok["data"] and ok["data"]["vat_number"] == "FI20774740"
    assert dup["error"]["code"] == "CUSTOMER_DUPLICATE_ORG_NUMBER"
    assert await count(engine, customers) == 1
    assert await count(engine, idempotency_keys) == 1


async def test_limits_and_all_or_nothing(engine: Any) -> None:
    with pytest.raises(TooManyItems):
        await create(engine, [{"name": f"N{i}", "country": "US"} for i in range(51)])
    with pytest.raises(AllOrNothingNotImplemented):
        await create(engine, [ACME], all_or_nothing=True)
    assert await count(engine, customers) == 0


async def test_suppliers_have_their_own_code_and_bank_warnings(engine: Any) -> None:
    item = {"name": "Office Depot AB", "org_number": "556677-8899", "iban": "SE00 1234", "country": "SE"}
    first = await create(engine, [item], kind="suppliers", key="s1")
    assert first["results"][0]["ok"]
    assert first["results"][0]["data"]["warnings"][0]["field"] == "iban"
    second = await create(engine, [item], kind="suppliers", key="s2")
    assert second["results"][0]["error"]["code"] == "SUPPLIER_DUPLICATE_ORG_NUMBER"
    assert await count(engine, suppliers) == 1


async def test_a_batch_of_fifty_is_one_write_statement_on_postgres(engine: Any) -> None:
    """Claim the key, store its response and insert all valid items in one statement: not fifty inserts."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    items = [{"name": f"Kund {i}", "country": "NO", "org_number": f"NO{i:09d}"} for i in range(50)]
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with engine.begin() as conn:
            # The Postgres path sends its statements straight to asyncpg: listen there too.
            driver = (await conn.get_raw_connection()).driver_connection
            if hasattr(driver, "add_query_logger"):
                driver.add_query_logger(lambda query: statements.append(query.query))
            response = (await bulk_create(conn, "c1", "customers", items, idempotency_key="k")).response()
            await asyncio.sleep(0)  # asyncpg reports queries with call_soon
            if hasattr(driver, "add_query_logger"):
                driver._query_loggers.clear()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert response["summary"]["succeeded"] == 50
    # (asyncpg's own type introspection, WITH RECURSIVE, reads the catalog once per connection.)
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "WITH CLAIM"))]
    # Postgres claims the key (with the response of a batch whose rows all go in) and inserts the items in one
    # statement; SQLite claims, then inserts.
    assert len(writes) == (1 if engine.dialect.name == "postgresql" else 2), writes


async def test_an_optimistic_write_meets_existing_org_numbers_as_a_careful_one(engine: Any) -> None:
    """Written as if every org number were new, a batch with an existing one is undone and written again the
    careful way, in the same transaction: the same outcome."""
    await create(engine, [ACME], key="earlier")
    items = [FOO, {**ACME, "name": "Acme again"}, {"name": "Ny Kund AS", "country": "NO"}]
    responses = []
    for key, optimistic in (("careful", False), ("optimistic", True)):
        async with engine.begin() as conn:
            requests = [(key, prepare("customers", "c1", items, datetime.now(UTC)))]
            (result,) = await write(conn, "c1", "customers", requests, optimistic=optimistic)
            responses.append(strip_ids(result.response()))
            await conn.execute(select(1))  # the transaction goes on after the undone statement
    assert responses[0] == responses[1]
    assert [r["ok"] for r in responses[1]["results"]] == [True, False, True]
    assert await count(engine, customers) == 5  # Acme, and Foo and Ny Kund twice (two keys)
    async with engine.begin() as conn:
        fresh = [("new", prepare("customers", "c1", [{"name": "Helt Ny AB", "country": "SE"}], datetime.now(UTC)))]
        (result,) = await write(conn, "c1", "customers", fresh, optimistic=True)
    assert result.as_planned and await count(engine, customers) == 6


@pytest.mark.parametrize("optimistic", [False, True])
async def test_an_optimistic_write_after_a_replayed_key_keeps_each_row_with_its_request(
    pg_engine: Any, optimistic: bool
) -> None:
    """A call whose first request was written before (its key replays) and whose second meets an existing org
    number: the optimistic write falls back to the careful statement with each row still its own request's."""
    stamp = datetime.now(UTC)

    def item(i: int) -> dict[str, Any]:
        return {"name": f"Firma {i}", "customer_type": "swedish_business", "org_number": org_number(i)}

    a, b = [item(1), item(2)], [item(3), item(4), item(5)]
    async with pg_engine.begin() as conn:  # key "a" used before, with the same payload; org number 5 exists
        await write(conn, "c1", "customers", [("a", prepare("customers", "c1", a, stamp))])
        await write(conn, "c1", "customers", [("x", prepare("customers", "c1", [item(5)], stamp))])
    async with pg_engine.begin() as conn:
        requests = [("a", prepare("customers", "c1", a, stamp)), ("b", prepare("customers", "c1", b, stamp))]
        results = await write(conn, "c1", "customers", requests, optimistic=optimistic)
    codes = [[(error or {}).get("code") for error, _, _ in r.outcomes()] for r in results]
    assert codes == [[None, None], [None, None, "CUSTOMER_DUPLICATE_ORG_NUMBER"]]
    assert results[0].replayed and not results[1].replayed
    assert await count(pg_engine, customers) == 5  # a's 2, x's 1, b's 2


def strip_ids(response: dict[str, Any]) -> dict[str, Any]:
    """A response without its generated ids, to compare two runs of the same requests."""
    results = [{**r, "data": {k: v for k, v in r["data"].items() if k != "id"}} if r["ok"] else r for r in
               response["results"]]  # fmt: skip
    return {**response, "results": results}


async def test_many_requests_in_one_call_answer_as_one_call_each(engine: Any) -> None:
    """The importer sends a commit group's batches together: same responses, rows and keys as one by one."""
    requests = [
        ("a", [ACME, FOO]),
        ("b", [{**ACME, "name": "Acme again"}, {"name": "Bad AB", "org_number": "556677-8898", "country": "SE"}]),
        ("c", []),
        ("d", [{"name": f"Kund {i}", "country": "NO", "org_number": f"NO{i:09d}"} for i in range(50)]),
    ]
    one_by_one = [await create(engine, items, key=key, company="seq") for key, items in requests]
    async with engine.begin() as conn:
        together = [r.response() for r in await bulk_create_many(conn, "many", "customers", requests)]
    assert [strip_ids(r) for r in together] == [strip_ids(r) for r in one_by_one]
    assert [r["summary"]["succeeded"] for r in together] == [2, 0, 0, 50]
    assert await count(engine, customers, "many") == await count(engine, customers, "seq") == 52
    assert await count(engine, idempotency_keys, "many") == 4

    # Again, with one new key among them: the old ones replay their stored responses and write nothing.
    new = ("e", [{**ACME, "name": "Acme 3"}, {"name": "Ny Kund AS", "country": "NO"}])
    async with engine.begin() as conn:
        again = [r.response() for r in await bulk_create_many(conn, "many", "customers", [*requests, new])]
    assert again[:4] == together
    assert [r["ok"] for r in again[4]["results"]] == [False, True]
    assert again[4]["results"][0]["error"]["code"] == "CUSTOMER_DUPLICATE_ORG_NUMBER"
    assert await count(engine, customers, "many") == 53

    with pytest.raises(IdempotencyKeyReused):
        async with engine.begin() as conn:
            await bulk_create_many(conn, "many", "customers", [("f", [{**ACME, "name": "x"}]), ("a", [FOO])])
    assert await count(engine, idempotency_keys, "many") == 5  # the refused call wrote nothing, not even "f"


def test_a_batch_fingerprint_depends_on_values_only() -> None:
    # A resumed or retried batch is read again by another process: the same values arrive as other objects,
    # shared or not. Only a change of value may change the fingerprint.
    city = "Stockholm"
    shared = [{"name": "Kund AB", "city": city, "postal_code": city, "default_payment_terms": 30, "notes": None}]
    copied = [{"name": "Kund AB", "city": "Stock" + "holm", "postal_code": "".join(["Stock", "holm"]),
               "default_payment_terms": 30, "notes": None}]  # fmt: skip
    assert request_hash(shared) == request_hash(copied)
    assert request_hash(shared) != request_hash([{**shared[0], "default_payment_terms": 31}])
    assert request_hash(shared) != request_hash([{**shared[0], "notes": ""}])
