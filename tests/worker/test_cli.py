"""The `rostersync` command as a user runs it: a subprocess with no standard input, real databases."""

import csv
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import CLI, PG_URL, ROOT, rostersync
from tests.fakes.rows import org_number, write_csv

EXAMPLE = str(ROOT / "examples" / "customers.csv")
ROWS_RECORDED = "SELECT coalesce(sum(created + updated + skipped + failed), 0) FROM import_batches"


def run_json(*args: str, env: dict[str, str], code: int | None = None) -> dict:
    result = rostersync(*args, "--json", env=env)
    assert code is None or result.returncode == code, result.stderr
    return json.loads(result.stdout)


async def pg_count(schema: str, query: str) -> int:
    conn = await asyncpg.connect(PG_URL, server_settings={"search_path": schema})
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


def test_embedded_default_import_report_and_listing(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    summary = run_json("import", EXAMPLE, "--company", "demo", "--kind", "customers", env=sqlite_cli_env, code=1)
    assert {k: summary[k] for k in ("status", "total", "succeeded", "failed", "skipped")} == {
        "status": "partially_succeeded", "total": 37, "succeeded": 28, "failed": 9, "skipped": 0,
    }  # fmt: skip
    status = run_json("status", summary["run_id"], env=sqlite_cli_env, code=0)
    assert status["failed"] == 9 and status["status"] == "partially_succeeded"

    report = tmp_path / "failed.csv"
    assert (
        rostersync("report", summary["run_id"], "--failed-only", "-o", str(report), env=sqlite_cli_env).returncode == 0
    )
    lines = report.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("row_number;status;error_code;error_field;error_message;entity_id;Kundnummer;Namn")
    assert len(lines) == 10

    listing = rostersync("customers", "list", "--company", "demo", "--json", env=sqlite_cli_env)
    customers = json.loads(listing.stdout)
    assert len(customers) == 28
    sole_trader = next(c for c in customers if c["name"].startswith("Åsa Öberg"))
    assert sole_trader["customer_type"] == "individual" and sole_trader["org_number"] == "19850512-****"
    assert "19850512-3326" not in listing.stdout
    assert {"vat_number_validated", "vat_check_status"} <= set(sole_trader)
    other = rostersync("customers", "list", "--company", "someone-else", "--json", env=sqlite_cli_env)
    assert json.loads(other.stdout) == []


def test_clean_file_exits_0(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "clean.csv", 120)
    summary = run_json("import", str(path), "--company", "c", "--kind", "customers", env=sqlite_cli_env, code=0)
    assert (summary["status"], summary["succeeded"]) == ("succeeded", 120)


def test_rows_created_with_warnings_are_counted_in_the_summary(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "suppliers.csv"
    path.write_text(
        "Namn;Organisationsnummer;Land;IBAN\n"
        "Leverantör AB;556036-0793;Sverige;SE00 1234\n"  # an IBAN with a wrong checksum: stored as supplied
        "Andra AB;556677-8899;Sverige;\n",
        encoding="utf-8",
    )
    args = ("import", str(path), "--company", "w", "--kind", "suppliers")
    summary = run_json(*args, env=sqlite_cli_env, code=0)
    assert (summary["created"], summary["warned"], summary["failed"]) == (2, 1, 0)
    shown = rostersync("status", summary["run_id"], env=sqlite_cli_env).stdout
    assert "1 of them with warnings" in shown


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b"", (), "empty"),
        (b"Namn;Org.nr\n", (), "no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), (), "not a text file"),
        (
            "Ort;Org.nr\nMalmö;556036-0793\n".encode(),
            (),
            "missing required column(s) for name; found: Ort, Org.nr",
        ),
        ('Namn;Ort\n"Acme AB;Malmö\n'.encode(), (), "unterminated"),
        (b"Namn\nA\n", ("--company", "bad id!"), "invalid --company"),
        (b"Namn\nA\n", ("--mapping", "/nonexistent.json"), "mapping"),
        (b"Namn\nA\n", ("--encoding", "klingon"), "unknown --encoding"),
        (b"Namn\nA\n", ("--encoding", "utf-16"), "byte order mark"),
        (b"Namn\nA\n", ("--encoding", "rot13"), "not a character encoding of text files"),
    ],
)
def test_nothing_can_be_done_exits_2_with_one_line_and_writes_nothing(
    sqlite_cli_env: dict[str, str], tmp_path: Path, content: bytes, args: tuple[str, ...], message: str
) -> None:
    path = tmp_path / "input.csv"
    path.write_bytes(content)
    company = () if "--company" in args else ("--company", "c")
    result = rostersync("import", str(path), *company, "--kind", "customers", *args, env=sqlite_cli_env)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert json.loads(rostersync("runs", "--json", env=sqlite_cli_env).stdout) == []


def test_ten_megabyte_cell_is_refused_naming_the_line(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("Namn;Anteckningar\nA AB;kort\nB AB;" + "x" * 10_000_000 + "\n", encoding="utf-8")
    result = rostersync("import", str(path), "--company", "c", "--kind", "customers", env=sqlite_cli_env)
    assert result.returncode == 2 and "line 3" in result.stderr and "1 MiB" in result.stderr


def test_a_header_longer_than_64_kib_is_refused_without_echoing_it(
    sqlite_cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(";".join(f"Kolumn {i}" for i in range(8000)) + "\n" + ";" * 7999 + "x\n", encoding="utf-8")
    result = rostersync("import", str(path), "--company", "c", "--kind", "customers", env=sqlite_cli_env)
    assert result.returncode == 2
    assert result.stderr == "rostersync: wide.csv, line 1: the header is longer than 64 KiB: is this a CSV file?\n"
    assert json.loads(rostersync("runs", "--json", env=sqlite_cli_env).stdout) == []


def test_a_dry_run_is_marked_as_one_in_the_list_of_runs(sqlite_cli_env: dict[str, str]) -> None:
    args = ("import", EXAMPLE, "--company", "d", "--kind", "customers")
    assert rostersync(*args, "--dry-run", env=sqlite_cli_env).returncode == 1
    assert rostersync(*args, env=sqlite_cli_env).returncode == 1
    statuses = [line for line in rostersync("runs", env=sqlite_cli_env).stdout.splitlines() if "partially" in line]
    assert len(statuses) == 2 and sum("(dry run)" in line for line in statuses) == 1


def test_report_into_a_pipe_closed_early_ends_quietly(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    """`rostersync report ID | head -1`: the reader went away, which is no database error and no traceback."""
    path = write_csv(tmp_path / "c.csv", 3000)
    run_id = run_json("import", str(path), "--company", "p", "--kind", "customers", env=sqlite_cli_env)["run_id"]
    proc = subprocess.Popen(
        [str(CLI), "report", run_id], env=sqlite_cli_env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"row_number;status;")
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) != 0
    assert stderr == ""


@pytest.mark.parametrize("database", ["sqlite_cli_env", "cli_env"])
def test_an_edited_semicolon_report_reimports_as_it_is(
    request: pytest.FixtureRequest, database: str, tmp_path: Path
) -> None:
    """A ';' file's report is written with ';', phone numbers and amounts as they are and formulas escaped; the
    failed cell fixed in it, it reimports: that row is created, the others are not created again."""
    env = request.getfixturevalue(database)
    source = tmp_path / "kunder.csv"
    source.write_text(
        "Kundnummer;Namn;Organisationsnummer;E-post;Telefon;Land;Anteckningar\n"
        f"1;Alfa AB;{org_number(1)};a@alfa.example;+46 8 123 45 67;Sverige;-12,50\n"
        f"2;Beta AB;{org_number(2)};inte-en-adress;+4681234567;Sverige;=1+2\n"
        f"3;Gamma AB;{org_number(3)};c@gamma.example;;Narnia;- ring först\n",
        encoding="utf-8",
    )
    run = run_json("import", str(source), "--company", "r", "--kind", "customers", env=env, code=1)
    assert (run["created"], run["failed"]) == (1, 2)

    report = tmp_path / "rapport.csv"
    assert rostersync("report", run["run_id"], "-o", str(report), env=env).returncode == 0
    text = report.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert text.startswith("row_number;status;error_code;") and len(rows) == 3
    assert [r["Telefon"] for r in rows] == ["+46 8 123 45 67", "+4681234567", ""]
    assert [r["Anteckningar"] for r in rows] == ["-12,50", "'=1+2", "'- ring först"]

    report.write_text(text.replace("inte-en-adress", "b@beta.example"), encoding="utf-8-sig")
    args = ("reimport", run["run_id"], "--failed-only", "--file", str(report))
    again = run_json(*args, env=env, code=1)
    assert (again["created"], again["skipped"], again["failed"]) == (1, 1, 1)  # Gamma: still in Narnia
    assert run_json(*args, env=env, code=1)["created"] == 0  # Beta AB now exists: not created twice

    customers = run_json("customers", "list", "--company", "r", env=env)
    assert sorted((c["name"], c["phone"], c["notes"]) for c in customers) == [
        ("Alfa AB", "+46 8 123 45 67", "-12,50"),
        ("Beta AB", "+4681234567", "=1+2"),
    ]


def test_report_delimiter_option(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "commas.csv", 2, delimiter=",")
    run_id = run_json("import", str(path), "--company", "d", "--kind", "customers", env=sqlite_cli_env)["run_id"]

    def first_line(*args: str) -> str:
        result = rostersync("report", run_id, *args, env=sqlite_cli_env)
        assert result.returncode == 0, result.stderr
        return result.stdout.partition("\n")[0]

    assert first_line().startswith("row_number,status,")  # a ',' file: ','
    assert first_line("--delimiter", ";").startswith("row_number;status;")
    assert first_line("--delimiter", "tab").startswith("row_number\tstatus\t")
    assert first_line("--delimiter", "|").startswith("row_number|status|")
    for bad in (":", "x", ";;", ""):
        out = tmp_path / "r.csv"
        refused = rostersync("report", run_id, "--delimiter", bad, "-o", str(out), env=sqlite_cli_env)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, (bad, refused.stderr)
        assert "a report is written with , ; | or tab" in refused.stderr and not out.exists()


def test_postgres_import_is_scoped_and_repeatable(cli_env: dict[str, str], pg_schema: str) -> None:
    first = run_json("import", EXAMPLE, "--company", "a", "--kind", "customers", env=cli_env, code=1)
    again = run_json("import", EXAMPLE, "--company", "a", "--kind", "customers", env=cli_env, code=1)
    other = run_json("import", EXAMPLE, "--company", "b", "--kind", "customers", env=cli_env, code=1)
    assert first["succeeded"] == other["succeeded"] == 28
    # The same file again: each row matches the record it made (by org number, or by customer number), so it is
    # skipped with that record's id; the rows that failed fail again, for their own reasons.
    assert (again["created"], again["updated"], again["skipped"]) == (0, 0, 28)
    assert again["failed"] == first["failed"]
    assert other["created"] == 28  # another company's records are not matched


async def test_killed_import_resumes_with_every_row_once(
    cli_env: dict[str, str], pg_schema: str, tmp_path: Path
) -> None:
    rows = 30_000
    path = write_csv(tmp_path / "big.csv", rows)
    env = {**cli_env, "ROSTERSYNC_WRITERS": "2", "ROSTERSYNC_BATCHES_PER_COMMIT": "1"}
    proc = subprocess.Popen(
        [str(CLI), "import", str(path), "--company", "k", "--kind", "customers", "--json"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while await pg_count(pg_schema, ROWS_RECORDED) < 2000:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = await pg_count(pg_schema, ROWS_RECORDED)
    assert written < rows, "the import finished before it could be killed"

    (listed,) = run_json("runs", env=env)
    status = run_json("status", listed["run_id"], env=env)
    # What the dead run committed, not what its last heartbeat said, in both views.
    assert (status["status"], status["processed"], status["total"]) == ("running", written, rows)
    assert listed["processed"] == written
    run_id = listed["run_id"]
    resumed = run_json("resume", run_id, env=env, code=0)
    assert (resumed["status"], resumed["created"], resumed["failed"]) == ("succeeded", rows, 0)
    assert await pg_count(pg_schema, "SELECT count(*) FROM customers") == rows
    assert await pg_count(pg_schema, "SELECT count(DISTINCT org_number) FROM customers") == rows
    assert await pg_count(pg_schema, ROWS_RECORDED) == rows


def test_queued_import_runs_on_the_worker(cli_env: dict[str, str], redis_url: str, tmp_path: Path) -> None:
    env = {**cli_env, "ROSTERSYNC_REDIS_URL": redis_url}
    path = write_csv(tmp_path / "q.csv", 300)
    queued = run_json("import", str(path), "--company", "q", "--kind", "customers", "--queue", env=env, code=0)
    assert queued["status"] == "queued"
    worker = rostersync("worker", "--burst", env=env, timeout=120)
    assert worker.returncode == 0, worker.stderr
    done = run_json("status", queued["run_id"], env=env, code=0)
    assert (done["status"], done["created"]) == ("succeeded", 300)


def test_queue_without_redis_is_refused(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "q.csv", 3)
    result = rostersync("import", str(path), "--company", "q", "--kind", "customers", "--queue", env=cli_env)
    assert result.returncode == 2 and "ROSTERSYNC_REDIS_URL" in result.stderr


async def test_a_dead_workers_run_is_picked_up_within_two_leases(
    cli_env: dict[str, str], redis_url: str, pg_schema: str, tmp_path: Path
) -> None:
    """arq alone would keep the dead worker's job "in progress" for its timeout (an hour); the run's lease says
    the owner is gone, and a live worker resumes the run within two lease periods, writing every row once."""
    lease_s = 2.0
    env = {
        **cli_env, "ROSTERSYNC_REDIS_URL": redis_url, "ROSTERSYNC_RUN_LEASE_S": str(lease_s),
        "ROSTERSYNC_REDISPATCH_EVERY_S": "1", "ROSTERSYNC_WRITERS": "1", "ROSTERSYNC_BATCHES_PER_COMMIT": "1",
    }  # fmt: skip
    rows = 20_000
    path = write_csv(tmp_path / "w.csv", rows)
    queued = run_json("import", str(path), "--company", "w", "--kind", "customers", "--queue", env=env, code=0)
    first = subprocess.Popen([str(CLI), "worker"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    second = None
    try:
        deadline = time.monotonic() + 60
        while await pg_count(pg_schema, ROWS_RECORDED) < 1000:
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at, written = time.monotonic(), await pg_count(pg_schema, ROWS_RECORDED)
        assert written < rows
        second = subprocess.Popen([str(CLI), "worker"], env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        while await pg_count(pg_schema, ROWS_RECORDED) == written:
            assert time.monotonic() - killed_at < 2 * lease_s + 5, "the run was not picked up"  # + a worker's start
            time.sleep(0.1)
        picked_up = time.monotonic() - killed_at
        while (done := run_json("status", queued["run_id"], env=env))["status"] == "running":
            assert time.monotonic() - killed_at < 120
            time.sleep(0.2)
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=30)
    print(f"picked up {picked_up:.1f} s after the kill (lease {lease_s} s)")
    assert (done["status"], done["created"]) == ("succeeded", rows), picked_up
    assert await pg_count(pg_schema, "SELECT count(*) FROM customers") == rows


def test_vies_outage_then_recheck_from_the_cli(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    from tests.fakes.vies_server import FakeVies

    path = tmp_path / "eu.csv"
    path.write_text(
        "Namn;Land;Momsnr\nMüller GmbH;Deutschland;DE136695976\nPuu Oy;Suomi;FI20774740\n", encoding="utf-8"
    )
    with FakeVies(valid_numbers={"DE136695976"}, down=True) as vies:
        env = {
            **sqlite_cli_env, "ROSTERSYNC_VIES_ENABLED": "true", "ROSTERSYNC_VIES_URL": vies.url,
            "ROSTERSYNC_VIES_RETRY_BUDGET_S": "0.2",
        }  # fmt: skip
        summary = run_json("import", str(path), "--company", "eu", "--kind", "customers", env=env, code=0)
        assert summary["created"] == 2  # an outage never fails the import
        listed = json.loads(rostersync("customers", "list", "--company", "eu", "--json", env=env).stdout)
        assert {c["vat_check_status"] for c in listed} == {"pending"}

        vies.down = False
        result = run_json("vat", "recheck", "--all-pending", env=env, code=0)
        assert (result["valid"], result["invalid"], result["still_pending"]) == (1, 1, 0)
        listed = json.loads(rostersync("customers", "list", "--company", "eu", "--json", env=env).stdout)
        assert {c["name"]: (c["vat_check_status"], c["vat_number_validated"]) for c in listed} == {
            "Müller GmbH": ("valid", True),
            "Puu Oy": ("invalid", False),
        }
    off = rostersync("vat", "recheck", env=sqlite_cli_env)
    assert off.returncode == 2 and "switched off" in off.stderr


def test_a_sole_traders_personnummer_is_never_listed_in_full(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    """A Swedish sole trader's organisation number is their personnummer (without the century): masked for
    suppliers as for customers, in the table and in --json, and in a VAT number that holds it."""
    path = tmp_path / "suppliers.csv"
    path.write_text(
        "Namn;Organisationsnummer;Land;Momsnummer\n"
        "Anna Lind Konsult;811218-9876;Sverige;SE811218987601\n"
        "Bo Ek Snickeri;19850512-3326;Sverige;\n"
        "Cem Aydin Bygg;811278-9873;Sverige;SE811278987301\n"  # a samordningsnummer: the day plus 60
        "Leverantör AB;556036-0793;Sverige;SE556036079301\n",
        encoding="utf-8",
    )
    summary = run_json("import", str(path), "--company", "w", "--kind", "suppliers", env=sqlite_cli_env, code=0)
    assert summary["created"] == 4
    customers = tmp_path / "customers.csv"
    customers.write_text("Namn;Organisationsnummer;Land\nBo Ek Snickeri;850512-3326;Sverige\n", encoding="utf-8")
    assert run_json("import", str(customers), "--company", "w", "--kind", "customers", env=sqlite_cli_env)["created"]

    full = ("8112189876", "8505123326", "8112789873")
    for kind in ("suppliers", "customers"):
        for extra in ((), ("--json",)):
            shown = rostersync(kind, "list", "--company", "w", *extra, env=sqlite_cli_env)
            assert shown.returncode == 0, shown.stderr
            for number in full:
                assert number not in shown.stdout.replace("-", "") + "\n" + shown.stderr.replace("-", "")
    suppliers = {s["name"]: s for s in run_json("suppliers", "list", "--company", "w", env=sqlite_cli_env)}
    assert suppliers["Anna Lind Konsult"]["org_number"] == "19811218-****"
    assert suppliers["Anna Lind Konsult"]["vat_number"] == "SE811218****01"
    assert suppliers["Bo Ek Snickeri"]["org_number"] == "19850512-****"
    assert (suppliers["Cem Aydin Bygg"]["org_number"], suppliers["Cem Aydin Bygg"]["vat_number"]) == (
        "811278-****", "SE811278****01",
    )  # fmt: skip
    assert (suppliers["Leverantör AB"]["org_number"], suppliers["Leverantör AB"]["vat_number"]) == (
        "556036-0793", "SE556036079301",
    )  # fmt: skip  # a company's number is not a person's
