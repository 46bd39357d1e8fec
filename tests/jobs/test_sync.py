"""Scheduled CRM syncs against the fake e-conomic on 127.0.0.1 and the real databases."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from jobs import app
from jobs.errors import SyncBusy
from jobs.pipeline.importer import Importer
from jobs.records import NewConnection, SyncSummary
from jobs.sync import connections, crm
from jobs.vat import VatChecker
from registry.tables import customers, external_refs, suppliers
from tests.conftest import app_context
from tests.fakes.crm_server import ECONOMIC_CREDENTIAL, EconomicFake, FakeCRM, economic_customer, economic_supplier

CUSTOMERS = 60


@pytest.fixture
def fake() -> Iterator[FakeCRM]:
    records = {
        "customers": [economic_customer(i, barred=False) for i in range(CUSTOMERS)],
        "suppliers": [economic_supplier(i, barred=False) for i in range(5)],
    }
    with FakeCRM(EconomicFake(), records) as server:
        yield server


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ROSTERSYNC_CRED_ECONOMIC", ECONOMIC_CREDENTIAL)
    return "env:ROSTERSYNC_CRED_ECONOMIC"


async def connect(engine: Any, fake: FakeCRM, token: str, **options: Any) -> Any:
    options = {"page_size": 20, "retry_budget_s": 0.3, **options}
    return await connections.add(engine, NewConnection("acme", "economic", fake.url, token, 900, options))


async def count(engine: Any, table: Any) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_first_sync_creates_then_an_unchanged_sync_skips(
    engine: Any, fake: FakeCRM, http: Any, token: str
) -> None:
    cid = await connect(engine, fake, token)
    first = await crm.sync(engine, cid, http=http)
    assert first.status in ("succeeded", "partially_succeeded")
    assert first.created + first.failed == CUSTOMERS + 5
    assert await count(engine, customers) + await count(engine, suppliers) == first.created
    assert {r.kind for r in first.runs} == {"customers", "suppliers"}

    again = await crm.sync(engine, cid, http=http)
    # Customers are read incrementally (nothing changed); suppliers have no lastUpdated and are read in
    # full, every one unchanged. Nothing is created twice.
    assert (again.created, again.updated) == (0, 0)
    assert again.skipped == 5 - sum(1 for r in first.runs if r.kind == "suppliers" and r.failed)
    assert await count(engine, customers) + await count(engine, suppliers) == first.created


async def test_changes_additions_and_a_barred_record(engine: Any, fake: FakeCRM, http: Any, token: str) -> None:
    cid = await connect(engine, fake, token)
    await crm.sync(engine, cid, http=http)
    before = await count(engine, customers)
    for number in (1, 2, 3):
        fake.change("customers", number, name=f"Renamed {number} A/S")
    now = datetime.now(UTC)
    fake.add("customers", economic_customer(100, modified=now, barred=False))
    fake.add("customers", economic_customer(101, modified=now, barred=False))
    fake.change("customers", 4, barred=True)

    second = await crm.sync(engine, cid, http=http)
    (run,) = [r for r in second.runs if r.kind == "customers"]
    assert (run.total, run.created, run.updated, run.archived, run.skipped) == (6, 2, 4, 1, 0)
    assert await count(engine, customers) == before + 2
    async with engine.connect() as conn:
        names = set((await conn.execute(select(customers.c.name).where(customers.c.name.like("Renamed%")))).scalars())
        archived = (await conn.execute(select(func.count()).where(customers.c.archived_at.is_not(None)))).scalar_one()
    assert names == {"Renamed 1 A/S", "Renamed 2 A/S", "Renamed 3 A/S"}
    assert archived == 1

    fake.change("customers", 4, barred=False)
    third = await crm.sync(engine, cid, http=http)
    (run,) = [r for r in third.runs if r.kind == "customers"]
    assert (run.updated, run.created) == (1, 0)
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).where(customers.c.archived_at.is_not(None)))).scalar_one() == 0


async def test_a_sync_that_dies_on_page_7_keeps_the_cursor(engine: Any, http: Any, token: str) -> None:
    records = {"customers": [economic_customer(i, barred=False) for i in range(200)], "suppliers": []}
    with FakeCRM(EconomicFake(), records, die_at_page=7) as server:
        cid = await connect(engine, server, token)
        died = await crm.sync(engine, cid, http=http)
        assert died.status == "failed" and "gave up" in died.error
        assert (await connections.get(engine, cid))["cursor"] is None
        done_before = died.processed
        assert done_before == 120  # six pages of 20 committed

        server.die_at_page = None
        healed = await crm.sync(engine, cid, http=http)
        assert healed.status in ("succeeded", "partially_succeeded")
        (run,) = [r for r in healed.runs if r.kind == "customers"]
        assert run.skipped == 120 - died.failed  # the first six pages are known and unchanged
        assert (await connections.get(engine, cid))["cursor"] is not None
    refs = await count(engine, external_refs)
    assert await count(engine, customers) == refs  # one registry record per source record, no duplicates


async def test_expired_credentials_fail_the_sync_at_once(engine: Any, fake: FakeCRM, http: Any, token: str) -> None:
    cid = await connect(engine, fake, token)
    fake.expire_credentials()
    result = await crm.sync(engine, cid, http=http)
    assert result.status == "failed"
    assert result.error == "credentials rejected by e-conomic"
    assert ECONOMIC_CREDENTIAL.split(":")[0] not in str(result)
    assert (await connections.get(engine, cid))["last_status"] == "failed"


async def test_a_missing_credential_variable_is_named(engine: Any, fake: FakeCRM, http: Any) -> None:
    cid = await connect(engine, fake, "env:ROSTERSYNC_CRED_NOT_SET_ANYWHERE")
    result = await crm.sync(engine, cid, http=http)
    assert result.error == "the credential variable ROSTERSYNC_CRED_NOT_SET_ANYWHERE is not set"


async def test_two_syncs_of_one_connection_never_overlap(pg_engine: Any, http: Any, token: str) -> None:
    records = {"customers": [economic_customer(i, barred=False) for i in range(100)], "suppliers": []}
    with FakeCRM(EconomicFake(), records, latency_s=0.05) as server:
        cid = await connect(pg_engine, server, token)
        results = await asyncio.gather(*(crm.sync(pg_engine, cid, http=http) for _ in range(3)), return_exceptions=True)
    busy = [r for r in results if isinstance(r, SyncBusy)]
    done = [r for r in results if isinstance(r, SyncSummary)]
    assert len(busy) == 2 and len(done) == 1
    assert await count(pg_engine, customers) == done[0].created


async def test_an_org_number_already_in_the_registry_is_linked(
    engine: Any, fake: FakeCRM, http: Any, token: str, tmp_path: Any
) -> None:
    from jobs import app
    from jobs.records import ImportRequest
    from tests.conftest import app_context

    swedish = next(
        r for r in fake.records["customers"] if str(r.get("corporateIdentificationNumber", "")).startswith("5")
    )
    path = tmp_path / "c.csv"
    path.write_text(
        f"Namn;Org.nr;Land\nFrån Excel AB;{swedish['corporateIdentificationNumber']};Sverige\n", encoding="utf-8"
    )
    ctx = app_context(engine)
    await app.process(ctx, await app.start_import(ctx, ImportRequest(str(path), "acme", "customers")))

    cid = await connect(engine, fake, token)
    result = await crm.sync(engine, cid, http=http)
    (run,) = [r for r in result.runs if r.kind == "customers"]
    assert run.updated == 1  # linked and brought up to date, not duplicated
    async with engine.connect() as conn:
        org = swedish["corporateIdentificationNumber"]
        assert (await conn.execute(select(func.count()).where(customers.c.org_number == org))).scalar_one() == 1


async def test_a_changed_vat_number_is_checked_again(engine: Any, http: Any, token: str) -> None:
    from connectors.vies import ViesClient
    from tests.fakes.vies_server import FakeVies

    record = economic_customer(0, barred=False)
    record.update(country="Tyskland", vatNumber="DE136695976", vatZone={"vatZoneNumber": 2})
    records = {"customers": [record], "suppliers": []}
    with FakeCRM(EconomicFake(), records) as server, FakeVies(default_valid=True) as vies:
        client = ViesClient(http, vies.url, retry_budget_s=1)
        cid = await connect(engine, server, token)
        await crm.sync(engine, cid, http=http, vat=VatChecker(engine, client))
        server.change("customers", 1, vatNumber="DE129273398")
        await crm.sync(engine, cid, http=http, vat=VatChecker(engine, client))
        assert [n for _, n in vies.calls] == ["136695976", "129273398"]
    async with engine.connect() as conn:
        row = (await conn.execute(select(customers.c.vat_number, customers.c.vat_check_status))).one()
    assert tuple(row) == ("DE129273398", "valid")


async def test_reimport_of_a_sync_run(engine: Any, http: Any, token: str) -> None:
    broken = economic_customer(2, barred=False)
    broken.update(country="Tyskland", vatNumber="DE123", vatZone={"vatZoneNumber": 2})
    records = {"customers": [economic_customer(0, barred=False), economic_customer(1, barred=False), broken]}
    with FakeCRM(EconomicFake(), {**records, "suppliers": []}) as server:
        cid = await connect(engine, server, token)
        first = await crm.sync(engine, cid, http=http)
    (run,) = [r for r in first.runs if r.kind == "customers"]
    assert (run.created, run.failed) == (2, 1)

    retried = await crm.reimport(engine, run.run_id, failed_only=True)
    assert retried.parent_run_id is not None
    assert (retried.total, retried.failed, retried.created) == (1, 1, 0)  # same data, same reason
    everything = await crm.reimport(engine, run.run_id, failed_only=False)
    assert (everything.skipped, everything.created, everything.failed) == (2, 0, 1)
    assert await count(engine, customers) == 2


async def test_a_sync_that_crashes_does_not_move_the_cursor(
    engine: Any, fake: FakeCRM, http: Any, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = await connect(engine, fake, token)
    real_write = Importer._write  # a sync writes through the import pipeline
    calls = 0

    async def crash_on_second_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("database went away")
        return await real_write(self, *args, **kwargs)

    monkeypatch.setattr(Importer, "_write", crash_on_second_group)
    with pytest.raises(RuntimeError):
        await crm.sync(engine, cid, http=http)
    row = await connections.get(engine, cid)
    assert (row["cursor"], row["last_status"]) == (None, "failed")

    monkeypatch.setattr(Importer, "_write", real_write)
    healed = await crm.sync(engine, cid, http=http)
    assert await count(engine, customers) == CUSTOMERS  # nothing was skipped for good
    assert healed.created + healed.skipped == CUSTOMERS + 5


async def test_the_same_record_twice_in_one_batch(engine: Any, http: Any, token: str) -> None:
    record = economic_customer(5, barred=False)
    with FakeCRM(EconomicFake(), {"customers": [record, dict(record)], "suppliers": []}) as server:
        cid = await connect(engine, server, token)
        result = await crm.sync(engine, cid, http=http)
    assert (result.created, result.skipped, result.failed) == (1, 1, 0)
    assert await count(engine, customers) == 1


async def test_the_credential_can_live_in_a_file(
    engine: Any, fake: FakeCRM, http: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROSTERSYNC_SECRETS_DIR", str(tmp_path))
    secret = tmp_path / "economic.token"
    secret.write_text(ECONOMIC_CREDENTIAL + "\n", encoding="utf-8")
    cid = await connect(engine, fake, f"file:{secret}")
    assert (await crm.sync(engine, cid, http=http)).status == "succeeded"
    secret.unlink()
    result = await crm.sync(engine, cid, http=http)
    assert result.error == f"cannot read the credential file {secret}: No such file or directory"


async def test_text_no_database_can_store_fails_its_row_and_the_sync_goes_on(
    engine: Any, http: Any, token: str
) -> None:
    records = [economic_customer(i, barred=False) for i in range(60)]
    records[3]["name"] = "Nul\u0000 ApS"
    records[41]["name"] = "Half \ud800 A/S"
    with FakeCRM(EconomicFake(), {"customers": records, "suppliers": []}) as server:
        cid = await connect(engine, server, token)
        first = await crm.sync(engine, cid, http=http)
        again = await crm.sync(engine, cid, http=http)
    (run,) = [r for r in first.runs if r.kind == "customers"]
    assert first.error is None and run.status == "partially_succeeded"
    assert run.created + run.failed == 60 and run.failed >= 2  # every other record went in
    assert (await connections.get(engine, cid))["cursor"] is not None  # completed: the cursor moved on
    ctx = app_context(engine)
    failed = (await app.run_rows_page(ctx, run.run_id, status="failed")).rows
    unstorable = [r for r in failed if "cannot be stored" in (r.error_message or "")]
    assert sorted(r.row_number for r in unstorable) == [4, 42] and {r.error_field for r in unstorable} == {"name"}
    assert again.error is None  # the next sync is not stuck on them


async def test_an_answer_nested_too_deeply_ends_the_sync_with_a_reason(engine: Any, http: Any, token: str) -> None:
    records = {"customers": [economic_customer(i, barred=False) for i in range(5)], "suppliers": []}
    with FakeCRM(EconomicFake(), records, fail_pages={1: ["deep_json"]}) as server:
        cid = await connect(engine, server, token)
        result = await crm.sync(engine, cid, http=http)
    assert result.status == "failed" and "nested too deeply" in (result.error or "")


async def test_a_second_connection_to_the_same_system_links_its_records_instead_of_creating_them_again(
    engine: Any, fake: FakeCRM, http: Any, token: str
) -> None:
    first = await crm.sync(engine, await connect(engine, fake, token), http=http)
    made = await count(engine, customers) + await count(engine, suppliers)
    assert made == first.created
    without_org = [r for r in fake.records["customers"] if not r.get("corporateIdentificationNumber")]
    assert without_org  # the records only their customer number can match

    second = await crm.sync(engine, await connect(engine, fake, token), http=http)
    assert second.created == 0 and second.failed == first.failed
    assert await count(engine, customers) + await count(engine, suppliers) == made  # nothing created twice
    ctx = app_context(engine)
    for run in second.runs:
        rows = (await app.run_rows_page(ctx, run.run_id, limit=1000)).rows
        assert {r.error_code for r in rows if r.status != "failed"} == {"LINKED"}
    assert await count(engine, external_refs) == 2 * made  # each connection knows every record now


async def test_a_sync_after_a_csv_import_links_a_record_by_its_customer_number(
    engine: Any, fake: FakeCRM, http: Any, token: str, tmp_path: Any
) -> None:
    from jobs.records import ImportRequest

    record = next(r for r in fake.records["customers"] if not r.get("corporateIdentificationNumber"))
    path = tmp_path / "c.csv"
    path.write_text(f"Kundnr;Namn;Land\n{record['customerNumber']};Från Excel;NO\n", encoding="utf-8")
    ctx = app_context(engine)
    imported = await app.process(ctx, await app.start_import(ctx, ImportRequest(str(path), "acme", "customers")))
    assert imported.created == 1

    result = await crm.sync(engine, await connect(engine, fake, token), http=http)
    (run,) = [r for r in result.runs if r.kind == "customers"]
    assert run.updated >= 1 and run.created + run.updated + run.failed == CUSTOMERS
    async with engine.connect() as conn:
        names = (
            await conn.execute(
                select(customers.c.name).where(customers.c.customer_number == str(record["customerNumber"]))
            )
        ).scalars()
        assert list(names) == [record["name"]]  # the one record, brought up to date, not a second one


async def test_a_sync_that_loses_its_database_connection_finishes_with_every_record_once(
    pg_engine: Any, pg_schema: str, http: Any, token: str
) -> None:
    import asyncpg
    from sqlalchemy import event

    from tests.conftest import PG_URL

    backends: set[int] = set()

    @event.listens_for(pg_engine.sync_engine, "connect")
    def remember(dbapi_connection: Any, _record: Any) -> None:
        backends.add(dbapi_connection.driver_connection.get_server_pid())

    await pg_engine.dispose()  # every connection from here on is one the listener saw made
    cut_off: list[int] = []

    async def cut_a_write_off() -> None:
        """Once some records are in, terminate the backend of a transaction under way."""
        admin = await asyncpg.connect(PG_URL)
        try:
            while not await admin.fetchval(f'SELECT count(*) FROM "{pg_schema}".customers'):
                await asyncio.sleep(0.005)
            while not cut_off:
                busy = "SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND state <> 'idle'"
                for (pid,) in await admin.fetch(busy, list(backends)):
                    if await admin.fetchval("SELECT pg_terminate_backend($1)", pid):
                        cut_off.append(pid)
                await asyncio.sleep(0.001)
        finally:
            await admin.close()

    records = {"customers": [economic_customer(i, barred=False) for i in range(2000)], "suppliers": []}
    with FakeCRM(EconomicFake(), records, latency_s=0.02) as server:
        cid = await connect(pg_engine, server, token, page_size=100)
        cutter = asyncio.create_task(cut_a_write_off())
        result = await crm.sync(pg_engine, cid, http=http)
        await asyncio.wait_for(cutter, 5)
    assert cut_off and result.error is None
    (run,) = [r for r in result.runs if r.kind == "customers"]
    assert run.created + run.failed == 2000
    assert await count(pg_engine, customers) == await count(pg_engine, external_refs) == run.created
    assert (await connections.get(pg_engine, cid))["cursor"] is not None


async def test_a_record_deleted_from_the_registry_is_made_again_when_it_changes(
    engine: Any, fake: FakeCRM, http: Any, token: str
) -> None:
    cid = await connect(engine, fake, token)
    await crm.sync(engine, cid, http=http)
    number = str(fake.records["customers"][0]["customerNumber"])
    async with engine.begin() as conn:
        await conn.execute(customers.delete().where(customers.c.customer_number == number))
    fake.change("customers", 1, name="Back Again A/S")

    result = await crm.sync(engine, cid, http=http)
    (run,) = [r for r in result.runs if r.kind == "customers"]
    assert (run.created, run.updated, run.failed) == (1, 0, 0)
    async with engine.connect() as conn:
        names = (await conn.execute(select(customers.c.name).where(customers.c.customer_number == number))).scalars()
        assert list(names) == ["Back Again A/S"]
    assert await count(engine, external_refs) == await count(engine, customers) + await count(engine, suppliers)
