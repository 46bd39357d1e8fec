"""The import pipeline end to end on real databases: every row accounted for once, deterministic outcomes."""

import asyncio
import csv
import io
import json
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Uuid, bindparam, func, select, text, update

from jobs import app
from jobs.context import Context
from jobs.errors import RunError
from jobs.ledger import run_rows, runs
from jobs.pipeline.importer import Importer, Tuning
from jobs.pipeline.starting import open_input
from jobs.records import ImportRequest, ReimportRequest, RunSummary
from registry.clock import now
from registry.db import create_engine
from registry.tables import customers, import_batches, import_runs
from tests.conftest import PG_URL, app_context
from tests.fakes.rows import HEADERS, customer_row, write_csv

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "customers.csv"


async def scalar(engine: Any, query: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(query)).scalar_one()


async def row_outcomes(engine: Any, run_id: Any) -> dict[int, tuple[str, str | None, str | None]]:
    async with engine.connect() as conn:
        return {o.row_number: (o.status, o.error_code, o.error_field) for o in await run_rows.outcomes(conn, [run_id])}


ROWS_RECORDED = select(func.coalesce(func.sum(import_batches.c.created + import_batches.c.failed), 0))


def ctx(engine: Any, **settings: Any) -> Context:
    return app_context(engine, **settings)


async def start(engine: Any, path: Path, company: str = "acme", **kw: Any) -> app.Started:
    return await app.start_import(ctx(engine), ImportRequest(str(path), company, kw.pop("kind", "customers"), **kw))


async def do_import(engine: Any, path: Path, settings: dict[str, Any] | None = None, **kw: Any) -> RunSummary:
    return await app.process(ctx(engine, **(settings or {})), await start(engine, path, **kw))


async def test_example_file_every_row_accounted_for(engine: Any) -> None:
    run = await do_import(engine, EXAMPLE)
    outcomes = await row_outcomes(engine, run.id)
    assert run.total == len(outcomes) == 37
    assert run.created + run.failed + run.skipped == 37
    assert run.status == "partially_succeeded"
    # Row numbers are the lines a person sees: the header is line 1.
    assert outcomes[2][0] == "created"
    failed = {n: (code, field) for n, (status, code, field) in outcomes.items() if status == "failed"}
    assert failed[30] == ("VALIDATION_ERROR", "org_number")  # bad checksum
    assert failed[31] == ("CUSTOMER_DUPLICATE_ORG_NUMBER", "org_number")  # same as line 2
    assert failed[32] == ("VALIDATION_ERROR", "email")
    assert failed[33] == ("VALIDATION_ERROR", "name")
    assert failed[34] == ("VALIDATION_ERROR", "country")
    assert failed[35] == ("VALIDATION_ERROR", "vat_number")
    assert failed[36] == ("VALIDATION_ERROR", "default_payment_terms")
    assert failed[37] == ("VALIDATION_ERROR", "org_number")  # personnummer with month 13
    assert failed[38][0] == "MALFORMED_ROW"
    assert len(failed) == 9
    assert await scalar(engine, select(func.count()).select_from(customers)) == run.created == 28


async def test_import_rows_view_shows_each_source_row(engine: Any) -> None:
    """A support engineer's SQL on import_rows sees one row per source row, as the run recorded it."""
    run = await do_import(engine, EXAMPLE)
    view = text(
        "SELECT row_number, status, error_code, error_field, entity_id, raw FROM import_rows"
        " WHERE run_id = :run ORDER BY row_number"
    ).bindparams(bindparam("run", type_=Uuid))
    async with engine.connect() as conn:
        seen = (await conn.execute(view, {"run": run.id})).all()
    recorded = [row async for batch in run_rows.rows(engine, run.id) for row in batch]
    assert len(seen) == len(recorded) == 37
    for (number, status, code, field, entity, raw), (outcome, recorded_raw) in zip(seen, recorded, strict=True):
        assert (number, status, code, field) == outcome[:4]
        assert (str(entity) if entity else None) == outcome.entity_id
        assert (json.loads(raw) if isinstance(raw, str) else raw) == recorded_raw
    assert [s for _, s, *_ in seen].count("failed") == 9


async def test_a_repeated_org_number_names_the_line_it_repeats(engine: Any, tmp_path: Path) -> None:
    """Within a batch and across batches alike, the reason names the line of the file that came first."""
    rows = [customer_row(i) for i in range(120)]
    rows.insert(3, customer_row(0))  # line 5 repeats line 2, in the same batch
    rows[60:60] = [customer_row(1), customer_row(1)]  # lines 62 and 63 repeat line 3, both in the next batch
    rows.append(customer_row(7))  # line 125 repeats line 10, two batches later
    path = write_csv(tmp_path / "repeats.csv", 0, extra=rows)
    run = await do_import(engine, path)
    async with engine.connect() as conn:
        failed = {o.row_number: o.error_message for o in await run_rows.outcomes(conn, [run.id], failed_only=True)}
    assert failed == {
        5: f"org number {customer_row(0)[2]} already exists on line 2 of this file",
        62: f"org number {customer_row(1)[2]} already exists on line 3 of this file",
        63: f"org number {customer_row(1)[2]} already exists on line 3 of this file",
        125: f"org number {customer_row(7)[2]} already exists on line 10 of this file",
    }


async def test_outcomes_do_not_depend_on_concurrency(pg_engine: Any, tmp_path: Path) -> None:
    """Duplicates spread over many batches fail on their later row, however many writers run."""
    extra = []
    for i in range(0, 600, 37):
        row = customer_row(i)
        row[0] = f"dup-{i}"
        extra.append(row)
    path = write_csv(tmp_path / "dups.csv", 600, extra=extra)
    results = []
    for writers, company in ((1, "one"), (6, "six")):
        run = await do_import(pg_engine, path, {"writers": writers, "batches_per_commit": 1}, company=company)
        outcomes = await row_outcomes(pg_engine, run.id)
        results.append({n for n, (status, *_) in outcomes.items() if status == "failed"})
    assert results[0] == results[1]
    assert results[0] == set(range(602, 602 + len(extra)))  # the appended copies, never the originals


class Died(Exception):
    pass


async def test_resume_after_a_crash_writes_every_row_once(engine: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv", 1234)
    started = await start(engine, path)
    run_id = started.run.id
    commits = 0

    def die_midway(processed: int) -> None:
        nonlocal commits
        commits += 1
        if commits == 3:
            raise Died  # like a crash between two commits

    with pytest.raises(Died):
        await app.process(ctx(engine, batches_per_commit=2), started, progress=die_midway)
    half = await runs.get_run(engine, run_id)
    assert half["status"] == "running" and half["lease_owner"] is None
    done = await scalar(engine, ROWS_RECORDED)
    assert 0 < done < 1234

    run = await app.resume(ctx(engine), str(run_id))
    assert run.status == "succeeded" and run.created == 1234
    assert await scalar(engine, select(func.count()).select_from(customers)) == 1234
    assert await scalar(engine, ROWS_RECORDED) == 1234


async def test_a_resumed_reimport_ends_as_one_that_never_stopped(engine: Any, tmp_path: Path) -> None:
    """What a reimport did itself before it died is not its family's doing: the rows after the resume get the
    numbers and reasons an uninterrupted reimport gives them."""
    rows = [customer_row(i) for i in range(200)] + [customer_row(5)]  # line 202 repeats line 7
    for row in rows:
        row[9] = "Narnia"  # every row fails until the report is corrected
    path = write_csv(tmp_path / "narnia.csv", 0, extra=rows)
    outcomes = []
    for company, crash in (("whole", False), ("resumed", True)):
        run = await do_import(engine, path, company=company)
        edited = tmp_path / f"{company}.csv"
        with open(edited, "w", encoding="utf-8", newline="") as f:
            await app.write_report(ctx(engine), run.run_id, f, failed_only=True)
        text = edited.read_text(encoding="utf-8").replace("Narnia", "Sverige")
        edited.write_text(text + ";;;;;;9001;Ny Kund AB;556703-7485;;;;;;;Sverige;30;\r\n", encoding="utf-8")
        child_started = await app.start_reimport(
            ctx(engine), ReimportRequest(run.run_id, failed_only=True, path=str(edited))
        )
        if crash:
            commits = 0

            def die_midway(processed: int) -> None:
                nonlocal commits
                commits += 1
                if commits == 3:
                    raise Died

            with pytest.raises(Died):
                await app.process(ctx(engine, batches_per_commit=1), child_started, progress=die_midway)
        child = await app.resume(ctx(engine, batches_per_commit=1), str(child_started.run.id))
        assert (child.created, child.failed) == (201, 1)
        async with engine.connect() as conn:
            found = await run_rows.outcomes(conn, [child_started.run.id])
        outcomes.append(sorted((o.row_number, o.status, o.error_code, o.error_message) for o in found))
    assert outcomes[0] == outcomes[1]
    assert (202, "failed", "CUSTOMER_DUPLICATE_ORG_NUMBER") in {o[:3] for o in outcomes[0]}
    number, status, *_ = outcomes[0][-1]  # the added line: numbered past the family's rows, and not skipped
    assert number > 202 and status == "created"


async def test_a_changed_file_is_not_resumed(engine: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", 10)
    started = await start(engine, path)
    write_csv(path, 11)
    run = await app.resume(ctx(engine), started.run.run_id)
    assert run.status == "failed" and "changed since the run started" in run.error
    assert await scalar(engine, select(func.count()).select_from(customers)) == 0


@pytest.mark.parametrize("swap", ["in place", "by rename"])
async def test_a_file_replaced_while_it_is_read_is_never_mixed_in(engine: Any, tmp_path: Path, swap: str) -> None:
    """The file is replaced (the same size, other rows) after the first rows are written: the run goes on with
    the version it started with, and every line holds what that version said on it."""
    path = write_csv(tmp_path / "c.csv", 20_000)
    original = path.read_bytes()
    started = await start(engine, path)
    replaced = False

    def replace(processed: int) -> None:
        nonlocal replaced
        if not replaced:
            replaced = True
            other = original.replace(b"Kund", b"Fake")
            if swap == "in place":
                path.write_bytes(other)
            else:
                (tmp_path / "new.csv").write_bytes(other)
                os.replace(tmp_path / "new.csv", path)

    run = await app.process(ctx(engine), started, progress=replace)
    assert replaced and run.status == "succeeded" and run.created == 20_000
    async with engine.connect() as conn:
        names = set((await conn.execute(select(customers.c.name))).scalars())
    assert len(names) == 20_000 and not any(name.startswith("Fake") for name in names)
    lines = original.decode().splitlines()
    page = await app.run_rows_page(ctx(engine), run.run_id, limit=20_000)
    assert len(page.rows) == 20_000
    assert all(list(row.source) == lines[row.row_number - 1].split(";") for row in page.rows)


async def test_dry_run_writes_no_registry_rows(engine: Any) -> None:
    run = await do_import(engine, EXAMPLE, dry_run=True)
    assert run.failed == 9 and run.created == 28
    assert await scalar(engine, select(func.count()).select_from(customers)) == 0


async def test_missing_required_columns_refused_before_a_run_exists(engine: Any, tmp_path: Path) -> None:
    path = tmp_path / "no-name.csv"
    path.write_text("Org.nr;Ort\n556036-0793;Malmö\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"missing required column.*name.*found: Org.nr, Ort"):
        await start(engine, path)
    assert await app.list_runs(ctx(engine)) == []


async def report_rows(engine: Any, run_id: Any, failed_only: bool = False) -> list[dict[str, str]]:
    out = io.StringIO()
    await app.write_report(ctx(engine), str(run_id), out, failed_only=failed_only)
    return list(csv.DictReader(io.StringIO(out.getvalue()), delimiter=";"))  # the files here use ';'; so do reports


async def test_report_columns_and_no_formulas(engine: Any, tmp_path: Path) -> None:
    evil = customer_row(1)
    evil[1] = '=HYPERLINK("http://evil.example","click")'
    evil[5] = "+46 8 123 45"
    evil[11] = "+" + "cmd|' /C calc'!A0"
    path = write_csv(tmp_path / "evil.csv", 0, extra=[evil])
    run = await do_import(engine, path)
    (row,) = await report_rows(engine, run.id)
    assert list(row)[:6] == [
        "row_number",
        "status",
        "error_code",
        "error_field",
        "error_message",
        "entity_id",
    ]
    assert list(row)[6:] == list(HEADERS)
    assert row["Namn"].startswith("'=") and row["Anteckningar"] == "'+cmd|' /C calc'!A0"
    assert row["Telefon"] == "+46 8 123 45"  # a phone number runs nothing: not turned into text
    assert row["status"] == "created" and row["entity_id"]
    async with engine.connect() as conn:
        stored = (await conn.execute(select(customers.c.name, customers.c.phone))).one()
    assert stored.name.startswith("=HYPERLINK")  # stored as given; only the spreadsheet output is defused


async def test_a_report_is_written_with_the_delimiter_of_its_file(engine: Any, tmp_path: Path) -> None:
    """';' when the run's file used ';' (a reimport of stored rows: the file it read them from), else ','."""

    async def first_line(run_id: Any, delimiter: str | None = None) -> str:
        out = io.StringIO()
        await app.write_report(ctx(engine), str(run_id), out, delimiter=delimiter)
        return out.getvalue().partition("\r\n")[0]

    semicolons = await do_import(engine, write_csv(tmp_path / "s.csv", 2, extra=[["1", "B AB", "x"]]))
    commas = await do_import(engine, write_csv(tmp_path / "c.csv", 2, delimiter=","), company="other")
    assert (await first_line(semicolons.run_id)).startswith("row_number;status;error_code;")
    assert (await first_line(commas.run_id)).startswith("row_number,status,error_code,")
    assert (await first_line(semicolons.run_id, ",")).startswith("row_number,status,")
    assert (await first_line(commas.run_id, "\t")).startswith("row_number\tstatus\t")

    from_storage = await app.start_reimport(ctx(engine), ReimportRequest(semicolons.run_id, failed_only=True))
    await app.process(ctx(engine), from_storage)
    assert (await first_line(from_storage.run.run_id)).startswith("row_number;status;")


async def test_reimport_failed_rows_from_the_edited_report(engine: Any, tmp_path: Path) -> None:
    run = await do_import(engine, EXAMPLE)
    report_path = tmp_path / "failed.csv"
    with open(report_path, "w", encoding="utf-8-sig", newline="") as f:
        await app.write_report(ctx(engine), run.run_id, f, failed_only=False)
    text = report_path.read_text(encoding="utf-8-sig")
    text = text.replace("556036-0794", "556036-0793")  # fixed checksum, but now a duplicate of line 2
    text = text.replace("ekonomi(at)trasig.se", "ekonomi@trasig.se").replace("om ett år", "365")
    report_path.write_text(text, encoding="utf-8-sig")

    new_started = await app.start_reimport(
        ctx(engine), ReimportRequest(run.run_id, failed_only=True, path=str(report_path))
    )
    again = await app.process(ctx(engine), new_started)
    assert again.parent_run_id == run.run_id
    outcomes = await row_outcomes(engine, new_started.run.id)
    assert outcomes[32][0] == "created" and outcomes[36][0] == "created"
    assert outcomes[30][:2] == ("failed", "CUSTOMER_DUPLICATE_ORG_NUMBER")
    assert outcomes[2][0] == "skipped"  # created by the parent run: never twice
    assert again.created == 2
    assert await scalar(engine, select(func.count()).select_from(customers)) == 30


async def test_a_reimport_of_a_reimport_keeps_each_value_as_the_source_said(engine: Any, tmp_path: Path) -> None:
    """Each report escapes a value once, whichever generation of reimports it comes from, and what is finally
    created is the source's value, not a spreadsheet escape."""
    row = customer_row(1)
    row[4], row[5], row[11] = "not an address", "+46 8 555 01", "=1+2"
    run = await do_import(engine, write_csv(tmp_path / "phone.csv", 0, extra=[row]))
    parent_id = run.id
    for generation in (1, 2):
        (reported,) = await report_rows(engine, parent_id, failed_only=True)
        assert reported["Telefon"] == "+46 8 555 01", generation
        assert reported["Anteckningar"] == "'=1+2", generation
        if generation == 2:
            reported["E-post"] = "ekonomi@kund.example.se"
        edited = tmp_path / f"edited{generation}.csv"
        with open(edited, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(reported), delimiter=";")
            writer.writeheader()
            writer.writerow(reported)
        child_started = await app.start_reimport(
            ctx(engine), ReimportRequest(str(parent_id), failed_only=True, path=str(edited))
        )
        child = await app.process(ctx(engine), child_started)
        assert (child.created, child.failed) == ((0, 1) if generation == 1 else (1, 0))
        parent_id = child_started.run.id
    async with engine.connect() as conn:
        stored = (await conn.execute(select(customers.c.phone, customers.c.notes))).one()
    assert tuple(stored) == ("+46 8 555 01", "=1+2")


async def test_a_reimport_from_another_file_does_not_skip_its_records_silently(engine: Any, tmp_path: Path) -> None:
    """Rows of a reimport file are matched to the earlier run's by line: a line the earlier run imported
    but which now holds another record fails with a reason instead of being skipped as done."""
    run = await do_import(engine, EXAMPLE)
    lines = EXAMPLE.read_text(encoding="utf-8-sig").splitlines()
    corrected = lines[:]
    corrected[31] = corrected[31].replace("ekonomi(at)trasig.se", "ekonomi@trasig.se")  # line 32, failed
    corrected[2] = corrected[2].replace("Acme Svenska AB", "ACME  svenska ab")  # line 3, created: same name
    corrected[3] = "1099;Helt Annan AB;;556703-7485;;info@annan.se;;Vägen 1;111 11;Stockholm;Sverige;30;"  # line 4
    path = tmp_path / "corrected.csv"
    path.write_text("\n".join(corrected) + "\n", encoding="utf-8")

    child_started = await app.start_reimport(ctx(engine), ReimportRequest(run.run_id, failed_only=True, path=str(path)))
    child = await app.process(ctx(engine), child_started)
    outcomes = await row_outcomes(engine, child_started.run.id)
    assert outcomes[32][0] == "created"
    assert outcomes[3][0] == outcomes[2][0] == "skipped"
    assert outcomes[4] == ("failed", "ROW_MISMATCH", "name")
    assert (child.created, child.failed) == (1, 9)  # 9 failed before: line 32 fixed, line 4 not the same


async def test_a_reimport_matches_rows_by_the_names_their_run_imported(engine: Any, tmp_path: Path) -> None:
    """The earlier run's own --mapping decides which column was its name, so an unchanged line is skipped."""
    header = "Kundnummer;Namn;Företag;Organisationsnummer;E-post;Land"
    good = "1;Anna Andersson;Acme AB;556703-7485;a@acme.se;Sverige"
    bad = "2;Bo Berg;Beta AB;556036-0793;not-an-email;Sverige"
    source = tmp_path / "orig.csv"
    source.write_text(f"{header}\n{good}\n{bad}\n", encoding="utf-8")
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"Namn": None}), encoding="utf-8")
    run = await do_import(engine, source, mapping_path=str(mapping))
    assert (run.created, run.failed) == (1, 1)
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(f"{header}\n{good}\n{bad.replace('not-an-email', 'b@beta.se')}\n", encoding="utf-8")
    child_started = await app.start_reimport(
        ctx(engine), ReimportRequest(run.run_id, failed_only=True, path=str(fixed))
    )
    await app.process(ctx(engine), child_started)
    outcomes = await row_outcomes(engine, child_started.run.id)
    assert (outcomes[2][0], outcomes[3][0]) == ("skipped", "created")


async def test_failed_rows_reimported_from_storage(engine: Any, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    # This export's "Momsnr" column holds internal codes, not VAT numbers: the German row fails on it.
    path.write_text("Namn;Land;Momsnr\nA AB;Sverige;\nB GmbH;Tyskland;M-12\n", encoding="utf-8")
    run = await do_import(engine, path)
    assert run.failed == 1
    mapping = tmp_path / "m.json"
    mapping.write_text('{"Momsnr": "notes"}', encoding="utf-8")
    new_started = await app.start_reimport(
        ctx(engine), ReimportRequest(run.run_id, failed_only=True, mapping_path=str(mapping))
    )
    again = await app.process(ctx(engine), new_started)
    assert (again.total, again.created, again.failed) == (1, 1, 0)

    # All rows again: the ones already created (by either run) are skipped, never created twice.
    all_started = await app.start_reimport(
        ctx(engine), ReimportRequest(run.run_id, failed_only=False, mapping_path=str(mapping))
    )
    everything = await app.process(ctx(engine), all_started)
    assert (everything.skipped, everything.created) == (2, 0)
    assert await scalar(engine, select(func.count()).select_from(customers)) == 2


async def test_two_processes_cannot_work_on_one_run(pg_engine: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", 2000)
    started = await start(pg_engine, path)
    run_id = started.run.id
    first = asyncio.create_task(app.process(ctx(pg_engine), started))
    while (await runs.get_run(pg_engine, run_id))["status"] != "running":
        await asyncio.sleep(0.01)
    with pytest.raises(RunError, match="being processed by"):
        await app.resume(ctx(pg_engine), str(run_id))
    run = await first
    assert run.created == 2000


async def test_long_foreign_org_numbers_fit(engine: Any, tmp_path: Path) -> None:
    path = tmp_path / "us.csv"
    path.write_text("Namn;Land;Org.nr\nBig Corp Inc;USA;US-123456789012345678901234\n", encoding="utf-8")
    run = await do_import(engine, path)
    assert (run.created, run.status) == (1, "succeeded")


async def test_lines_added_to_an_edited_report_get_their_own_numbers(engine: Any, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Namn;Land\nA AB;Sverige\nB AB;Narnia\nC AB;Narnia\n", encoding="utf-8")
    run = await do_import(engine, path)
    edited = tmp_path / "edited.csv"
    with open(edited, "w", encoding="utf-8", newline="") as f:
        await app.write_report(ctx(engine), run.run_id, f, failed_only=True)
    text = edited.read_text(encoding="utf-8").replace("Narnia", "Norge")
    edited.write_text(text + ";;;;;;D AB;Danmark\r\n", encoding="utf-8")  # a new customer, no row number

    new_started = await app.start_reimport(
        ctx(engine), ReimportRequest(run.run_id, failed_only=False, path=str(edited))
    )
    again = await app.process(ctx(engine), new_started)
    assert (again.created, again.failed) == (3, 0)
    assert await scalar(engine, select(func.count()).select_from(customers)) == 4


def another_process(request: pytest.FixtureRequest, engine: Any, work: Callable[[Any], Awaitable[None]]) -> None:
    """Run `work(engine of its own)` to its end, as another process would, while this one is stuck where it calls
    this (in a progress callback: between two commits)."""

    async def main() -> None:
        if engine.dialect.name == "postgresql":
            other = create_engine(PG_URL, schema=request.getfixturevalue("pg_schema"))
        else:
            other = create_engine(engine.url.render_as_string(hide_password=False))
        try:
            await work(other)
        finally:
            await other.dispose()

    failed: list[BaseException] = []
    thread = threading.Thread(target=lambda: failed.extend(_errors_of(main)))
    thread.start()
    thread.join(120)
    assert not thread.is_alive() and not failed, failed


def _errors_of(main: Callable[[], Coroutine[Any, Any, None]]) -> list[BaseException]:
    try:
        asyncio.run(main())
    except BaseException as exc:  # handed to the test's thread
        return [exc]
    return []


async def test_a_process_that_lost_its_lease_stops_saying_so(
    engine: Any, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process stalls past its lease; another resumes the run and finishes it. The stalled one, waking, meets
    the other's batches at its next commit and stops with the lease's message, not a unique-key violation."""
    monkeypatch.setattr(runs, "heartbeat", _no_heartbeat)  # the batch write, not the heartbeat, notices here
    path = write_csv(tmp_path / "c.csv", 300)  # six batches
    started = await start(engine, path)
    run_id = started.run.id

    async def resume_elsewhere(other: Any) -> None:
        async with other.begin() as conn:  # the stalled process's lease ran out
            await conn.execute(
                update(import_runs).where(import_runs.c.id == run_id).values(lease_expires_at=now() - timedelta(1))
            )
        resumed = await app.resume(ctx(other), str(run_id))
        assert resumed.status == "succeeded"

    stalled = False

    def stall_once(processed: int) -> None:
        nonlocal stalled
        if not stalled:
            stalled = True
            another_process(request, engine, resume_elsewhere)

    with pytest.raises(RunError, match=f"run {run_id}: lost the lease to another process"):
        await app.process(ctx(engine, batches_per_commit=1, writers=1), started, progress=stall_once)
    run = await app.get_run(ctx(engine), str(run_id))
    assert (run.status, run.created) == ("succeeded", 300)
    assert await scalar(engine, select(func.count()).select_from(customers)) == 300
    assert await scalar(engine, ROWS_RECORDED) == 300


async def test_the_lease_holder_goes_on_past_batches_a_stalled_process_wrote(
    engine: Any, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other way round: a process that lost its lease writes batches before it notices; the one that holds
    the lease meets them, leaves them as they are and finishes the run."""
    monkeypatch.setattr(runs, "heartbeat", _no_heartbeat)
    path = write_csv(tmp_path / "c.csv", 300)
    started = await start(engine, path)

    async def stale_writer(other: Any) -> None:
        run = await runs.get_run(other, started.run.id)
        tuning = Tuning(writers=1, batches_per_commit=1)
        stale = Importer(other, run, "stale-host:1:00000000", tuning, progress=None, vat=None)
        await stale.execute(await open_input(other, run))

    written_elsewhere = False

    def let_the_stale_one_write(processed: int) -> None:
        nonlocal written_elsewhere
        if not written_elsewhere:
            written_elsewhere = True
            another_process(request, engine, stale_writer)

    run = await app.process(ctx(engine, batches_per_commit=1, writers=1), started, progress=let_the_stale_one_write)
    assert (run.status, run.created, run.processed) == ("succeeded", 300, 300)
    assert await scalar(engine, select(func.count()).select_from(customers)) == 300
    assert await scalar(engine, ROWS_RECORDED) == 300


async def _no_heartbeat(*_: Any) -> None:
    return None
