"""A workbook's sheet read as the text a person sees in it, under its own row numbers; workbooks that must not be
read are refused in one line naming the file (and the sheet, and the row, where there is one)."""

import datetime
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
import xlrd

from connectors import workbook_source
from connectors.csv_source import SourceError
from connectors.workbook_source import WorkbookSource
from tests.fakes.rows import HEADERS, customer_row
from tests.fakes.workbooks import (
    NUMBER_FORMATS,
    Formatted,
    customers_table,
    customers_workbook,
    encrypted,
    large_ods,
    large_workbook,
    number_formats_sheet,
    ods_workbook,
    with_cached_results,
    xls_workbook,
    xlsx_workbook,
    zip_bomb,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def values(source: WorkbookSource) -> dict[int, tuple[str, ...]]:
    return {row.line: row.values for row in source.rows()}


def test_cells_read_as_the_text_a_person_sees(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Kundnummer", "Namn", "Organisationsnummer", "Postnummer", "Betalningsvillkor", "Kund sedan"])
    sheet.append(["00123", "Åkesson Bygg AB", "556000-0019", "01234", 30, datetime.date(2019, 3, 1)])
    sheet.append([124, "Ek & Co", 5560000027, 1234, 12.5, datetime.datetime(2021, 11, 30, 14, 5)])
    sheet["C3"].number_format = "000000-0000"  # an org number typed as a number, shown with its dash
    sheet["D3"].number_format = "00000"  # a postal code typed as a number, shown with its leading zero
    sheet.append(["=A2", '="Nord"&"lund AB"', True, None, "=E2*2", None])
    sheet.append([125, "Utan resultat AB", "=C2", None, None, None])
    path = tmp_path / "kunder.xlsx"
    book.save(path)
    with_cached_results(path, {"A4": "00123", "B4": "Nordlund AB", "E4": "60"})

    source = WorkbookSource(str(path))
    rows = {row.line: row for row in source.rows()}
    assert rows[2].values == ("00123", "Åkesson Bygg AB", "556000-0019", "01234", "30", "2019-03-01")
    assert rows[3].values == ("124", "Ek & Co", "556000-0027", "01234", "12.5", "2021-11-30 14:05:00")
    assert rows[4].values[:5] == ("00123", "Nordlund AB", "TRUE", "", "60")  # formulas give their results
    assert (rows[4].error, rows[5].values[2]) == (None, "")  # never the formula's text
    assert rows[5].column == 2 and rows[5].error.startswith(
        "cell C5 (Organisationsnummer) is a formula without a saved result"
    )


@pytest.mark.parametrize("write", [xlsx_workbook, xls_workbook, ods_workbook])
def test_a_number_format_shows_a_number_zero_padded_never_rounded(tmp_path: Path, write: Callable[..., Path]) -> None:
    suffix = write.__name__.removesuffix("_workbook")
    path = write(tmp_path / f"tal.{suffix}", {"Tal": number_formats_sheet()})
    assert [row[0] for row in values(WorkbookSource(str(path))).values()] == [read for *_, read in NUMBER_FORMATS]


def test_an_ods_sheets_rows_and_cells_saved_once_with_a_count_keep_their_numbers(tmp_path: Path) -> None:
    """LibreOffice saves equal rows, and equal cells of a row, once with their count."""
    padded = Formatted(7, "00000", "00007")
    path = ods_workbook(
        tmp_path / "kunder.ods",
        {
            "Om filen": [["Kunder per region"], [padded]],
            "Kunder": [["Kundnummer", "Reservnummer"], [], [], [padded, padded], [padded, padded], [8, "ingen"]],
        },
    )
    assert values(WorkbookSource(str(path), sheet="Kunder")) == {
        4: ("00007", "00007"),
        5: ("00007", "00007"),
        6: ("8", "ingen"),
    }


def test_a_header_below_a_title_block_is_found_and_rows_keep_the_workbooks_numbers(tmp_path: Path) -> None:
    path = customers_workbook(tmp_path / "kunder.xlsx", 3)  # title, subtitle, a blank row, then the table
    source = WorkbookSource(str(path))
    assert (source.header_line, source.headers) == (4, HEADERS)
    assert values(source) == {
        5: tuple(customer_row(0, eu_every=7)),
        6: tuple(customer_row(1)),
        7: tuple(customer_row(2)),
    }
    assert source.check() == 3


def test_a_header_row_can_be_named(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["Rapport", "Kunder per region"])  # two text cells a guess could take for a header
    book.active.append(["Företag", "Stad"])
    book.active.append(["Ek AB", "Umeå"])
    book.save(tmp_path / "regioner.xlsx")
    source = WorkbookSource(str(tmp_path / "regioner.xlsx"), header_row=2)
    assert (source.headers, values(source)) == (("Företag", "Stad"), {3: ("Ek AB", "Umeå")})
    with pytest.raises(SourceError) as refused:
        WorkbookSource(str(tmp_path / "regioner.xlsx"), header_row=9)
    assert str(refused.value) == (
        "regioner.xlsx, sheet 'Sheet', row 9: the row is empty or a title: --header-row names the row of column names"
    )


def test_the_first_visible_sheet_is_read_or_the_one_named(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    hidden = book.active
    hidden.title, hidden.sheet_state = "Lookup", "hidden"
    hidden.append(["Namn"])
    hidden.append(["Dold rad AB"])
    customers_sheet = book.create_sheet("Kunder")
    customers_sheet.append(["Namn"])
    customers_sheet.append(["Synlig AB"])
    book.create_sheet("Leverantörer").append(["Namn", "Ort"])
    book.save(tmp_path / "bok.xlsx")
    path = str(tmp_path / "bok.xlsx")
    assert WorkbookSource(path).sheet == "Kunder"
    assert [s.hidden for s in WorkbookSource(path).sheets] == [True, False, False]
    assert WorkbookSource(path, sheet="leverantörer").sheet == "Leverantörer"
    assert values(WorkbookSource(path, sheet="1")) == {2: ("Dold rad AB",)}  # named: read although hidden
    with pytest.raises(SourceError) as refused:
        WorkbookSource(path, sheet="Fakturor")
    assert str(refused.value) == (
        "bok.xlsx: no sheet 'Fakturor': the sheets are 'Lookup' (hidden), 'Kunder', 'Leverantörer' "
        "(give a name, or a number from 1)"
    )


def test_merged_titles_blank_rows_and_trailing_empty_cells_are_not_rows(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Namn", "Ort", None, None])
    sheet.append(["Ek AB", "Umeå"])
    sheet.append(["Norr"])  # a section line merged across the table
    sheet.merge_cells("A3:B3")
    sheet.append(["Gran AB", "Luleå"])
    for row in range(5, 40):  # formatted but empty rows and columns, as a tidied sheet has
        sheet.cell(row, 6).number_format = "0.00"
        sheet.cell(row, 1).value = "  "
    sheet.cell(60, 8).value = ""
    book.save(tmp_path / "kunder.xlsx")
    source = WorkbookSource(str(tmp_path / "kunder.xlsx"))
    assert source.headers == ("Namn", "Ort")
    assert values(source) == {2: ("Ek AB", "Umeå"), 4: ("Gran AB", "Luleå")}


def test_a_value_beyond_the_header_fails_its_row_naming_the_cell(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["Namn", "Ort"])
    book.active.append(["Ek AB", "Umeå", None, "glömd anteckning"])
    book.save(tmp_path / "kunder.xlsx")
    (row,) = WorkbookSource(str(tmp_path / "kunder.xlsx")).rows()
    assert row.error == "cell D2 has a value but the header has only 2 columns"


def _refused(path: Path) -> str:
    with pytest.raises(SourceError) as refused:
        WorkbookSource(str(path))
    assert "\n" not in str(refused.value)
    return str(refused.value)


def test_workbooks_that_must_not_be_read_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    protected = encrypted(customers_workbook(tmp_path / "skyddad.xlsx", 3))
    assert _refused(protected) == (
        "skyddad.xlsx: the workbook is password-protected: save a copy without a password and import that"
    )
    cut = tmp_path / "avklippt.xlsx"
    cut.write_bytes(customers_workbook(tmp_path / "hel.xlsx", 3).read_bytes()[:3000])
    assert _refused(cut).startswith("avklippt.xlsx: the workbook is damaged")
    text = tmp_path / "text.xlsx"
    text.write_text("Namn;Ort\nEk AB;Umeå\n")
    assert _refused(text).startswith("text.xlsx: the workbook is damaged or not a workbook")
    assert _refused(zip_bomb(tmp_path / "bomb.xlsx")) == (
        "bomb.xlsx: refused: xl/worksheets/sheet1.xml inflates 1,028 times (to 600 MB); a workbook's parts do not"
        " (a zip bomb?)"
    )
    monkeypatch.setattr(workbook_source, "MAX_WORKBOOK_BYTES", 4096)
    assert _refused(customers_workbook(tmp_path / "stor.xlsx", 200)) == (
        "stor.xlsx: the workbook is 0 MB; at most 0 MB are read (save the sheet as CSV, or split it)"
    )


def test_an_xls_whose_formats_xlrd_cannot_read_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def trips(*args: object, **kw: object) -> None:
        raise AssertionError  # as xlrd does on some damaged files calamine reads

    monkeypatch.setattr(xlrd, "open_workbook", trips)
    assert (
        _refused(FIXTURES / "customers.xls")
        == "customers.xls, sheet 'Kunder': the workbook is damaged (AssertionError)"
    )


def test_the_ods_and_xls_fixtures_read_as_their_xlsx_would(tmp_path: Path) -> None:
    """Made by tests/fixtures/make_workbooks.py, by odfpy and xlwt; row 6 holds numbers shown zero-padded."""
    for suffix in ("ods", "xls"):
        source = WorkbookSource(str(FIXTURES / f"customers.{suffix}"))
        assert (source.sheet, source.header_line) == ("Kunder", 3)
        assert values(source) == {
            4: ("00042", "Åkesson Bygg AB", "556000-0019", "01234", "Sverige", "30", "2019-03-01"),
            5: ("00043", "Nordlund Konsult AB", "556000-0027", "09876", "Sverige", "15", "2021-11-30"),
            6: ("00044", "Ekström Måleri AB", "556000-0035", "02345", "Sverige", "30", "2023-05-02"),
        }


@pytest.mark.parametrize("suffix", ["xlsx", "ods"])
def test_a_100000_row_workbook_is_read_in_under_300_mb(tmp_path: Path, suffix: str) -> None:
    if suffix == "ods":  # its postal codes numbers in a column formatted 00000: every row's styles are read
        path = large_ods(tmp_path / "stor.ods", customers_table(100_000), HEADERS.index("Postnummer"))
    else:
        path = large_workbook(tmp_path / "stor.xlsx", customers_table(100_000))
    script = (
        "import sys\n"
        "from connectors.workbook_source import WorkbookSource\n"
        "source = WorkbookSource(sys.argv[1])\n"
        "assert sum(1 for _ in source.rows()) == source.check() == 100_000\n"
        # VmHWM: this process image's own peak. ru_maxrss would keep the forking test process's, whatever it was.
        "peak = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
        "print(int(peak.split()[1]) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    assert int(done.stdout) < 300, done.stdout
