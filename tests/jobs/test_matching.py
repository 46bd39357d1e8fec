"""A file imported again matches its rows to the company's records (issue 14.2): --mode upsert|create|update,
on Postgres and SQLite."""

import asyncio
import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from jobs import app
from jobs.ledger import run_rows, runs
from jobs.ledger.run_rows import Outcome
from jobs.pipeline import matching
from jobs.records import ImportRequest, ReimportRequest, RunSummary
from registry.clock import now
from registry.ids import as_uuid
from registry.tables import customers, vat_checks
from tests.conftest import app_context
from tests.fakes.rows import HEADERS, customer_row, org_number, vat_number

NO_ORG = 1  # a Swedish row without an org number: matched by its customer number
EU = 2  # an EU business without an org number, with a VAT number


def base_rows() -> list[list[str]]:
    rows = [customer_row(i) for i in range(4)]
    rows[NO_ORG][2] = ""  # Organisationsnummer
    rows[EU] = customer_row(EU, eu_every=1)
    return rows


def write(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=";", lineterminator="\n")
        writer.writerow(HEADERS)
        writer.writerows(rows)
    return path


async def run(engine: Any, path: Path, mode: str | None = None, **kw: Any) -> RunSummary:
    ctx = app_context(engine)
    if mode is not None:
        kw["mode"] = mode
    return await app.process(ctx, await app.start_import(ctx, ImportRequest(str(path), "acme", "customers", **kw)))


async def outcomes(engine: Any, summary: RunSummary) -> dict[int, Outcome]:
    async with engine.connect() as conn:
        return {o.row_number: o for o in await run_rows.outcomes(conn, [summary.id])}


async def stored(engine: Any) -> dict[str, Any]:
    """The company's customers by id."""
    async with engine.connect() as conn:
        return {str(r.id): r for r in await conn.execute(select(customers))}


async def test_the_same_file_twice_is_all_skipped(engine: Any, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", base_rows())
    first = await run(engine, path)
    assert (first.created, first.failed) == (4, 0)
    again = await run(engine, path)
    assert (again.status, again.created, again.updated, again.skipped, again.failed) == ("succeeded", 0, 0, 4, 0)
    made, seen = await outcomes(engine, first), await outcomes(engine, again)
    assert all(seen[n].entity_id == made[n].entity_id and seen[n].error_message == "unchanged" for n in made)
    assert len(await stored(engine)) == 4


async def test_a_corrected_file_updates_the_changed_rows_only(engine: Any, tmp_path: Path) -> None:
    first = await run(engine, write(tmp_path / "c.csv", base_rows()))
    ids = {n: o.entity_id for n, o in (await outcomes(engine, first)).items()}
    async with engine.begin() as conn:  # VIES answered for the EU customer meanwhile
        await conn.execute(delete(vat_checks))
        await conn.execute(update(customers).values(vat_check_status="valid", vat_number_validated=True))
    rows = base_rows()
    rows[0][4] = "ny@kund0.example.se"  # E-post
    rows[NO_ORG][4] = "ny@kund1.example.se"
    rows[EU][3] = vat_number("DE", 7)  # Momsregistreringsnummer
    rows[3][5] = ""  # a blank phone: not an erasure
    corrected = await run(engine, write(tmp_path / "fixed.csv", rows))
    seen = await outcomes(engine, corrected)
    assert (corrected.created, corrected.updated, corrected.skipped, corrected.failed) == (0, 3, 1, 0)
    assert {n: seen[n].status for n in seen} == {2: "updated", 3: "updated", 4: "updated", 5: "skipped"}
    assert all(seen[n].entity_id == ids[n] for n in seen)
    records = await stored(engine)
    assert len(records) == 4
    assert records[ids[2]].email == "ny@kund0.example.se" and records[ids[3]].email == "ny@kund1.example.se"
    eu = records[ids[2 + EU]]
    assert (eu.vat_number, eu.vat_check_status, eu.vat_number_validated) == (vat_number("DE", 7), "pending", False)
    assert records[ids[2]].vat_check_status == "valid"  # not re-checked: its VAT number did not change
    async with engine.connect() as conn:
        checks = list(await conn.execute(select(vat_checks.c.customer_id, vat_checks.c.vat_number)))
    assert [(str(c), v) for c, v in checks] == [(ids[2 + EU], vat_number("DE", 7))]
    assert records[ids[5]].phone == customer_row(3)[5]  # the blank cell left the stored phone alone
    for n in (2, 3, 4):
        assert records[ids[n]].updated_at > records[ids[n]].created_at
    assert records[ids[5]].updated_at == records[ids[5]].created_at


async def test_a_dry_run_reports_updates_without_writing(engine: Any, tmp_path: Path) -> None:
    await run(engine, write(tmp_path / "c.csv", base_rows()))
    rows = base_rows()
    rows[0][4] = "ny@kund0.example.se"
    rows.append(customer_row(9))
    dry = await run(engine, write(tmp_path / "fixed.csv", rows), dry_run=True)
    assert (dry.created, dry.updated, dry.skipped) == (1, 1, 3)
    records = await stored(engine)
    assert len(records) == 4 and "ny@kund0.example.se" not in {r.email for r in records.values()}


async def test_mode_create_skips_existing_and_mode_update_creates_nothing(engine: Any, tmp_path: Path) -> None:
    first = await run(engine, write(tmp_path / "c.csv", base_rows()))
    ids = {n: o.entity_id for n, o in (await outcomes(engine, first)).items()}
    rows = base_rows()
    rows[0][4] = "ny@kund0.example.se"
    changed = write(tmp_path / "changed.csv", rows)

    created = await run(engine, changed, mode="create")
    seen = await outcomes(engine, created)
    assert (created.status, created.created, created.updated, created.skipped) == ("succeeded", 0, 0, 4)
    assert {n: o.entity_id for n, o in seen.items()} == ids
    assert "exists already" in (seen[2].error_message or "")
    assert "ny@kund0.example.se" not in {r.email for r in (await stored(engine)).values()}

    rows.append(customer_row(9))  # a new customer: update mode creates nothing
    updated = await run(engine, write(tmp_path / "new.csv", rows), mode="update")
    seen = await outcomes(engine, updated)
    assert (updated.created, updated.updated, updated.skipped, updated.failed) == (0, 1, 3, 1)
    assert (seen[2].status, seen[2].entity_id) == ("updated", ids[2])
    assert (seen[6].status, seen[6].error_code) == ("failed", "NO_MATCH")
    assert "matches no customer" in (seen[6].error_message or "") and org_number(9) in (seen[6].error_message or "")
    assert len(await stored(engine)) == 4


async def test_each_match_key_in_order_and_a_conflict_naming_both(engine: Any, tmp_path: Path) -> None:
    rows = base_rows()
    rows.append(customer_row(4))
    rows[4][2] = ""  # customer 100004 without an org number
    first = await run(engine, write(tmp_path / "c.csv", rows))
    ids = {n: o.entity_id for n, o in (await outcomes(engine, first)).items()}

    by_org = customer_row(0)
    by_org[0], by_org[4] = "900000", "org@kund0.example.se"  # another customer number: the org number wins
    by_number = customer_row(1)
    by_number[2], by_number[4] = "", "number@kund1.example.se"
    by_vat = customer_row(EU, eu_every=1)
    by_vat[0], by_vat[4] = "", "vat@kund2.example"
    conflict = customer_row(3)
    conflict[0] = "100004"  # org number of line 5's customer, customer number of line 6's
    again = await run(engine, write(tmp_path / "keys.csv", [by_org, by_number, by_vat, conflict]))
    seen = await outcomes(engine, again)
    assert [(seen[n].status, seen[n].entity_id) for n in (2, 3, 4)] == [
        ("updated", ids[2]), ("updated", ids[3]), ("updated", ids[4])
    ]  # fmt: skip
    assert (seen[5].status, seen[5].error_code) == ("failed", "MATCH_CONFLICT")
    assert ids[5] in (seen[5].error_message or "") and ids[6] in (seen[5].error_message or "")
    records = await stored(engine)
    assert len(records) == 5
    assert (records[ids[2]].customer_number, records[ids[2]].email) == ("900000", "org@kund0.example.se")
    assert records[ids[3]].email == "number@kund1.example.se"
    assert (records[ids[4]].email, records[ids[4]].customer_number) == ("vat@kund2.example", "100002")


async def test_one_customer_number_on_two_lines_fails_the_second(engine: Any, tmp_path: Path) -> None:
    rows = base_rows()
    rows.append(customer_row(5))
    rows[4][0], rows[4][2] = rows[NO_ORG][0], ""  # line 6 repeats line 3's customer number
    summary = await run(engine, write(tmp_path / "c.csv", rows))
    seen = await outcomes(engine, summary)
    assert (seen[6].status, seen[6].error_code) == ("failed", "CUSTOMER_DUPLICATE_NUMBER")
    assert "line 3" in (seen[6].error_message or "")
    assert summary.created == 4


async def test_an_archived_record_stays_archived(engine: Any, tmp_path: Path) -> None:
    first = await run(engine, write(tmp_path / "c.csv", base_rows()))
    ids = {n: o.entity_id for n, o in (await outcomes(engine, first)).items()}
    archived_at = now()
    async with engine.begin() as conn:
        archived = [as_uuid(ids[2]), as_uuid(ids[3])]
        await conn.execute(update(customers).where(customers.c.id.in_(archived)).values(archived_at=archived_at))
    rows = base_rows()
    rows[0][4] = "ny@kund0.example.se"
    again = await run(engine, write(tmp_path / "fixed.csv", rows))
    seen = await outcomes(engine, again)
    assert (seen[2].status, seen[2].error_code) == ("updated", "STILL_ARCHIVED")
    assert "archived" in (seen[2].error_message or "")
    assert seen[3].status == "skipped" and "stays archived" in (seen[3].error_message or "")
    records = await stored(engine)
    assert records[ids[2]].email == "ny@kund0.example.se"
    assert records[ids[2]].archived_at is not None and records[ids[3]].archived_at is not None
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(customers)) == 4


async def test_the_mode_is_stored_with_the_run_and_a_reimport_inherits_it(engine: Any, tmp_path: Path) -> None:
    rows = base_rows()
    rows[0][2] = "556000-0000"  # a bad checksum: the row fails, for a reimport
    first = await run(engine, write(tmp_path / "c.csv", rows), mode="create")
    ctx = app_context(engine)
    assert (await runs.get_run(engine, first.run_id))["options"]["mode"] == "create"  # a resume reads it there
    started = await app.start_reimport(ctx, ReimportRequest(first.run_id, failed_only=True))
    assert (await runs.get_run(engine, started.run.run_id))["options"]["mode"] == "create"


def misspelt(path: Path, rows: list[list[str]]) -> Path:
    """The rows under a header whose org number column no alias knows (a typo)."""
    write(path, rows)
    path.write_text(path.read_text(encoding="utf-8").replace("Organisationsnummer", "Orgnisationsnummer", 1))
    return path


async def reimport(engine: Any, parent: RunSummary, **kw: Any) -> RunSummary:
    ctx = app_context(engine)
    return await app.process(ctx, await app.start_reimport(ctx, ReimportRequest(parent.run_id, **kw)))


async def test_a_reimport_with_a_mapping_repairs_the_records_a_missing_column_left_out(
    engine: Any, tmp_path: Path
) -> None:
    rows = base_rows()
    rows[NO_ORG][9] = "Narnia"  # line 3 fails, and fails again: a reimport takes the failed rows too
    first = await run(engine, misspelt(tmp_path / "c.csv", rows), allow_unmapped=True)
    assert (first.created, first.failed) == (3, 1)
    ids = {n: o.entity_id for n, o in (await outcomes(engine, first)).items()}
    assert {r.org_number for r in (await stored(engine)).values()} == {None}
    mapping = tmp_path / "fixed.json"
    mapping.write_text(json.dumps({"Orgnisationsnummer": "org_number"}), encoding="utf-8")

    repaired = await reimport(engine, first, mapping_path=str(mapping))
    seen = await outcomes(engine, repaired)
    assert (repaired.created, repaired.updated, repaired.skipped, repaired.failed) == (0, 2, 1, 1)
    assert {n: seen[n].status for n in seen} == {2: "updated", 3: "failed", 4: "skipped", 5: "updated"}
    assert all(seen[n].entity_id == ids[n] for n in (2, 4, 5))
    records = await stored(engine)
    assert len(records) == 3
    assert (records[ids[2]].org_number, records[ids[5]].org_number) == (org_number(0), org_number(3))
    assert records[ids[2]].updated_at > records[ids[2]].created_at

    again = await reimport(engine, first, mapping_path=str(mapping))
    assert (again.created, again.updated, again.skipped, again.failed) == (0, 0, 3, 1)
    assert len(await stored(engine)) == 3


async def test_a_corrected_file_repairs_its_records_and_a_replaced_line_still_fails(
    engine: Any, tmp_path: Path
) -> None:
    first = await run(engine, misspelt(tmp_path / "c.csv", base_rows()), allow_unmapped=True, mode="create")
    ids = {n: o.entity_id for n, o in (await outcomes(engine, first)).items()}
    rows = base_rows()
    rows[3] = customer_row(7)  # line 5 now holds another customer: neither skipped nor written over line 5's
    fixed = write(tmp_path / "fixed.csv", rows)

    # --mode create leaves alone the records from elsewhere, not the ones the family made itself
    repaired = await reimport(engine, first, path=str(fixed))
    seen = await outcomes(engine, repaired)
    assert {n: seen[n].status for n in seen} == {2: "updated", 3: "skipped", 4: "skipped", 5: "failed"}
    assert seen[5].error_code == "ROW_MISMATCH"
    records = await stored(engine)
    assert len(records) == 4 and records[ids[2]].org_number == org_number(0)
    assert records[ids[5]].name == "Kund 3 AB"
    failed_only = await reimport(engine, first, path=str(fixed), failed_only=True)
    assert (failed_only.updated, failed_only.skipped, failed_only.failed) == (0, 3, 1)
    again = await reimport(engine, first, path=str(fixed))
    assert (again.created, again.updated, again.skipped, again.failed) == (0, 0, 3, 1)


async def test_a_repaired_row_whose_key_another_record_has_fails_naming_both(engine: Any, tmp_path: Path) -> None:
    first = await run(engine, misspelt(tmp_path / "c.csv", base_rows()), allow_unmapped=True)
    made = (await outcomes(engine, first))[2].entity_id
    holder = customer_row(0)
    holder[0], holder[1] = "999999", "Annan AB"  # line 2's org number, on a customer of its own
    other = await run(engine, write(tmp_path / "other.csv", [holder]))
    (taken,) = [o.entity_id for o in (await outcomes(engine, other)).values()]
    mapping = tmp_path / "fixed.json"
    mapping.write_text(json.dumps({"Orgnisationsnummer": "org_number"}), encoding="utf-8")
    repaired = await reimport(engine, first, mapping_path=str(mapping))
    seen = await outcomes(engine, repaired)
    assert (seen[2].status, seen[2].error_code) == ("failed", "MATCH_CONFLICT")
    assert made in (seen[2].error_message or "") and str(taken) in (seen[2].error_message or "")
    assert (seen[5].status, repaired.created) == ("updated", 0)


KEYLESS = "Namn;E-post;Postnr;Ort\nAnna Svensson;anna@example.se;111 22;Stockholm\nBo Ek;;411 01;Göteborg\n"
PERSONS = {"country": "SE", "customer_type": "individual"}


async def test_a_file_without_keys_twice_is_all_skipped_by_fingerprint(engine: Any, tmp_path: Path) -> None:
    path = tmp_path / "personer.csv"
    twin = "Bo  EK;;411 01;Göteborg\n"  # the same person again (case and spacing aside): a record of its own
    path.write_text(KEYLESS + twin, encoding="utf-8")
    first = await run(engine, path, defaults=PERSONS)
    assert (first.created, first.failed) == (3, 0)
    made = await outcomes(engine, first)
    again = await run(engine, path, defaults=PERSONS)
    assert (again.status, again.created, again.updated, again.skipped) == ("succeeded", 0, 0, 3)
    seen = await outcomes(engine, again)
    assert all(seen[n].entity_id == made[n].entity_id for n in made)
    path.write_text(KEYLESS.replace("411 01;Göteborg", "411 01;GÖTEBORG") + twin + "Cilla Ny;;;Umeå\n")
    changed = await run(engine, path, defaults=PERSONS)
    # Another case matches still, and is written; the new line is a new customer
    assert (changed.created, changed.updated, changed.skipped) == (1, 1, 2)
    records = await stored(engine)
    assert len(records) == 4 and records[made[3].entity_id or ""].city == "GÖTEBORG"


async def test_a_fingerprint_matches_only_records_keyless_rows_of_the_source_made(engine: Any, tmp_path: Path) -> None:
    with_key = tmp_path / "with_key.csv"
    with_key.write_text("Kundnummer;Namn;E-post;Postnr;Ort\n7;Bo Ek;;411 01;Göteborg\n", encoding="utf-8")
    await run(engine, with_key, defaults=PERSONS)
    path = tmp_path / "personer.csv"
    path.write_text(KEYLESS, encoding="utf-8")
    first = await run(engine, path, defaults=PERSONS)
    assert first.created == 2  # Bo Ek with customer number 7 is another record, as far as anything says
    updated = tmp_path / "updated.csv"
    updated.write_text(KEYLESS.replace("Namn;E-post;Postnr;Ort", "Namn;E-post;Postnr;Ort;Telefon")
                       .replace("Stockholm", "Stockholm;08-123 45 67"), encoding="utf-8")  # fmt: skip
    again = await run(engine, updated, defaults=PERSONS)
    assert (again.created, again.updated, again.skipped) == (0, 1, 1)  # the same source: any CSV file
    assert len(await stored(engine)) == 3


async def test_two_lines_matching_one_record_by_vat_number_fail_the_later(
    engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eu = base_rows()[EU]
    accounts = [customer_row(i) for i in (30, 31)]
    for account in accounts:
        account[3] = vat_number("FI", 3)  # one VAT number, two accounts (their own org numbers)
    await run(engine, write(tmp_path / "c.csv", [eu, *accounts]))
    first = eu[:]
    first[0], first[4] = "", "a@kund2.example"  # no customer number: matched by its VAT number alone
    second = eu[:]
    second[0], second[1] = "", "Europa Kunde Zwei GmbH"
    shared = customer_row(9, eu_every=1)
    shared[3], shared[9] = vat_number("DE", 40), "Deutschland"  # a VAT number no customer has, on two new
    apart = shared[:]  # lines: two new customers
    apart[0] = "900009"
    rows = [customer_row(i) for i in range(40, 220)]  # the two lines far apart: in groups written at once
    rows[1:1] = [first, shared]
    rows[170:170] = [second, apart]
    rows += accounts
    # The first batch is looked up last: its lines still come first (on Postgres; SQLite writes one at a time)
    looked_up = matching.store

    def slow_first_batch(conn: Any) -> Any:
        real = looked_up(conn)

        async def find(conn: Any, table: Any, company_id: str, keys: Any) -> Any:
            if org_number(40) in keys.org_numbers:
                await asyncio.sleep(0.5)
            return await real.matching(conn, table, company_id, keys)

        return SimpleNamespace(matching=find)

    monkeypatch.setattr(matching, "store", slow_first_batch)
    ctx = app_context(engine, batches_per_commit=1, writers=4)
    started = await app.start_import(ctx, ImportRequest(str(write(tmp_path / "again.csv", rows)), "acme", "customers"))
    summary = await app.process(ctx, started)
    seen = await outcomes(engine, summary)
    assert (seen[3].status, seen[172].status, seen[172].error_code) == ("updated", "failed", "MATCH_CONFLICT")
    assert "line 3 " in (seen[172].error_message or "")
    assert seen[4].status == seen[173].status == "created"
    assert seen[186].status == seen[187].status == "skipped"
    assert (summary.created, summary.updated, summary.skipped, summary.failed) == (182, 1, 2, 1)
    assert (await stored(engine))[seen[3].entity_id or ""].name == eu[1]


async def test_a_record_one_line_matched_by_org_number_is_not_matched_again_by_vat(engine: Any, tmp_path: Path) -> None:
    account = customer_row(5)
    account[3] = vat_number("FI", 4)
    await run(engine, write(tmp_path / "c.csv", [account]))
    by_vat = account[:]
    by_vat[0], by_vat[2] = "", ""
    summary = await run(engine, write(tmp_path / "again.csv", [account, by_vat]))
    seen = await outcomes(engine, summary)
    assert (seen[2].status, seen[3].status) == ("skipped", "failed")
    assert "line 2 " in (seen[3].error_message or "")
