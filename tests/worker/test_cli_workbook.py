"""Workbooks from the CLI: imported as a person sees them, refused in one line writing nothing, and the failed rows
given back as a workbook with the bad cells marked, which reimports as it is edited."""

import json
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import ROOT, rostersync
from tests.fakes.rows import org_number
from tests.fakes.workbooks import customers_sheet, customers_workbook, encrypted, zip_bomb
from tests.worker.test_cli import run_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
IMPORT = ("--company", "demo", "--kind", "customers")


def listed(env: dict[str, str]) -> list[dict]:
    return json.loads(rostersync("customers", "list", "--company", "demo", "--json", env=env).stdout)


def broken_workbook(path: Path) -> Path:
    """Twelve customers under a title block (header on row 4): row 8 with a bad org number checksum, row 11 with
    no e-mail address in its e-mail cell; a note that starts with = typed as text; a postal code with a leading
    zero."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Kunder"
    header = customers_sheet(sheet, 12)
    sheet.cell(header + 4, 3).value = "556000-0000"
    sheet.cell(header + 7, 5).value = "inte-en-adress"
    note = sheet.cell(header + 2, 12)
    note.value, note.data_type = "=ring först", "s"
    sheet.cell(header + 3, 8).value = "01234"
    book.save(path)
    return path


@pytest.mark.parametrize("database", ["sqlite_cli_env", "cli_env"])
def test_failed_rows_come_back_as_a_workbook_that_reimports_as_it_is_edited(
    request: pytest.FixtureRequest, database: str, tmp_path: Path
) -> None:
    env = request.getfixturevalue(database)
    run = run_json("import", str(broken_workbook(tmp_path / "kunder.xlsx")), *IMPORT, env=env, code=1)
    assert (run["created"], run["failed"]) == (10, 2)

    report = tmp_path / "failed.xlsx"
    written = rostersync("report", run["run_id"], "--failed-only", "-o", str(report), env=env)
    assert written.returncode == 0 and written.stderr == f"wrote 2 rows to {report}\n"
    sheet = openpyxl.load_workbook(report).active
    assert [c.value for c in sheet[1]][:8] == [
        "row_number", "status", "error_code", "error_field", "error_message", "entity_id", "Kundnummer", "Namn"
    ]  # fmt: skip
    assert [c.value for c in sheet["A"][1:]] == [8, 11]  # the workbook's row numbers
    assert (sheet.freeze_panes, sheet.auto_filter.ref) == ("A2", "A1:R3")
    org, email = sheet["I2"], sheet["K3"]
    assert org.fill.fgColor.rgb == email.fill.fgColor.rgb == "00FFC7CE"
    assert org.comment.text == sheet["E2"].value and sheet["D2"].value == "org_number"
    assert not sheet["J2"].fill.fill_type and sheet["J2"].comment is None  # only the failed cells are marked

    org.value, email.value = org_number(3), "faktura3@kund.example.se"  # the two cells, fixed in a spreadsheet
    sheet.parent.save(report)
    args = ("reimport", run["run_id"], "--failed-only", "--file", str(report))
    again = run_json(*args, env=env)
    assert (again["created"], again["failed"]) == (2, 0)
    assert run_json(*args, env=env)["created"] == 0  # nothing twice

    customers = {c["name"]: c for c in listed(env)}
    assert len(customers) == 12
    assert customers["Kund 3 AB"]["org_number"] == org_number(3)
    assert customers["Kund 2 AB"]["postal_code"] == "01234"
    assert customers["Kund 1 AB"]["notes"] == "=ring först"


def test_a_report_keeps_text_as_text(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    run = run_json("import", str(broken_workbook(tmp_path / "kunder.xlsx")), *IMPORT, env=sqlite_cli_env, code=1)
    report = tmp_path / "rapport"  # no extension: the format is asked for
    written = rostersync("report", run["run_id"], "--format", "xlsx", "-o", str(report), env=sqlite_cli_env)
    assert written.returncode == 0
    with report.open("rb") as f:
        sheet = openpyxl.load_workbook(f).active
    note, postal = sheet["R3"], sheet["N4"]
    assert (note.value, note.data_type) == ("=ring först", "s")  # a string, never a formula
    assert (postal.value, postal.data_type) == ("01234", "s")


def test_sheet_and_header_row_are_chosen_and_mapping_lists_the_sheets(
    sqlite_cli_env: dict[str, str], tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Info"
    book.active.append(["Exporterad", "2026-12-01"])
    customers_sheet(book.create_sheet("Kunder"), 3, title=False)
    hidden = book.create_sheet("Gamla")
    hidden.sheet_state = "hidden"
    path = tmp_path / "bok.xlsx"
    book.save(path)

    shown = rostersync("mapping", str(path), *IMPORT, "--sheet", "Kunder", env=sqlite_cli_env)
    assert shown.returncode == 0, shown.stderr
    assert "sheets: Info, Kunder, Gamla (hidden) (choose one with --sheet)" in shown.stdout
    assert "(3 rows, sheet 'Kunder')" in shown.stdout
    as_json = json.loads(rostersync("mapping", str(path), *IMPORT, "--sheet", "2", "--json", env=sqlite_cli_env).stdout)
    assert (as_json["sheet"], as_json["sheets"], as_json["rows"]) == ("Kunder", ["Info", "Kunder", "Gamla (hidden)"], 3)

    run = run_json("import", str(path), *IMPORT, "--sheet", "Kunder", "--header-row", "1", env=sqlite_cli_env)
    assert (run["created"], run["failed"]) == (3, 0)


@pytest.mark.parametrize("suffix", ["ods", "xls"])
def test_ods_and_xls_workbooks_import(sqlite_cli_env: dict[str, str], suffix: str) -> None:
    run = run_json("import", str(FIXTURES / f"customers.{suffix}"), *IMPORT, "--json", env=sqlite_cli_env)
    assert (run["created"], run["failed"]) == (3, 0)
    assert sorted((c["customer_number"], c["org_number"], c["postal_code"]) for c in listed(sqlite_cli_env)) == [
        ("00042", "556000-0019", "01234"),
        ("00043", "556000-0027", "09876"),
        ("00044", "556000-0035", "02345"),  # numbers in zero-padded formats
    ]


def test_workbooks_that_cannot_be_read_are_one_line_exit_2_and_nothing_written(
    sqlite_cli_env: dict[str, str], tmp_path: Path
) -> None:
    cut = tmp_path / "avklippt.xlsx"
    cut.write_bytes(customers_workbook(tmp_path / "hel.xlsx", 3).read_bytes()[:2000])
    cases = {
        encrypted(customers_workbook(tmp_path / "skyddad.xlsx", 3)): (
            "skyddad.xlsx: the workbook is password-protected: save a copy without a password and import that"
        ),
        cut: "avklippt.xlsx: the workbook is damaged",
        zip_bomb(tmp_path / "bomb.xlsx"): "bomb.xlsx: refused: xl/worksheets/sheet1.xml inflates",
        # Damaged so that calamine asks for a terabyte and aborts the process.
        ROOT / "tests/fixtures/damaged.xls": "damaged.xls: the workbook is damaged (its records cannot be read)",
    }
    for path, reason in cases.items():
        result = rostersync("import", str(path), *IMPORT, env=sqlite_cli_env)
        assert (result.returncode, result.stdout, result.stderr.count("\n")) == (2, "", 1), result.stderr
        assert result.stderr.startswith(f"rostersync: {reason}"), result.stderr
    no_sheet = rostersync("import", str(tmp_path / "hel.xlsx"), *IMPORT, "--sheet", "9", env=sqlite_cli_env)
    assert (no_sheet.returncode, no_sheet.stderr) == (
        2, "rostersync: hel.xlsx: no sheet '9': the sheets are 'Kunder' (give a name, or a number from 1)\n"
    )  # fmt: skip
    assert rostersync("runs", "--json", env=sqlite_cli_env).stdout == "[]\n"
    assert listed(sqlite_cli_env) == []


def test_a_corrected_workbooks_sheet_is_named_on_reimport(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    """Support staff paste the fixed rows onto a sheet of their own, after a cover sheet."""
    run = run_json("import", str(broken_workbook(tmp_path / "kunder.xlsx")), *IMPORT, env=sqlite_cli_env, code=1)
    report = tmp_path / "failed.xlsx"
    assert rostersync("report", run["run_id"], "--failed-only", "-o", str(report), env=sqlite_cli_env).returncode == 0
    book = openpyxl.load_workbook(report)
    fixed = book.active
    fixed["I2"].value, fixed["K3"].value = org_number(3), "faktura3@kund.example.se"
    fixed.title = "Rättat"
    cover = book.create_sheet("Om filen", 0)
    cover["A1"] = "Rättade rader, 2026-12-06"
    book.save(report)
    args = ("reimport", run["run_id"], "--failed-only", "--file", str(report))
    unsheeted = rostersync(*args, env=sqlite_cli_env)  # the first sheet is the cover: no columns to import
    assert unsheeted.returncode == 2 and "Om filen" in unsheeted.stderr, unsheeted.stderr
    again = run_json(*args, "--sheet", "Rättat", env=sqlite_cli_env)
    assert (again["created"], again["failed"]) == (2, 0)
    stray = rostersync("reimport", run["run_id"], "--sheet", "Rättat", env=sqlite_cli_env)
    assert stray.returncode == 2 and "--file" in stray.stderr and stray.stderr.count("\n") == 1
