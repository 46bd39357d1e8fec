"""Workbooks for tests and benchmarks, built as spreadsheet programs save them."""

import datetime
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from itertools import groupby, islice
from pathlib import Path
from typing import Any, NamedTuple
from xml.sax.saxutils import escape

import msoffcrypto.format.ooxml
import openpyxl
import xlwt
from odf import number, style, table, text
from odf.opendocument import OpenDocumentSpreadsheet
from openpyxl.worksheet.worksheet import Worksheet

from tests.fakes.rows import HEADERS, rows

TITLE = ("Kundregister", "Exporterat 2026-12-01 från Fortnox")


class Formatted(NamedTuple):
    """A number (or date) typed as one, in a number format (its code as Excel saves it), shown as `shown`."""

    value: float | datetime.date
    code: str
    shown: str


Cell = str | float | datetime.date | Formatted | None

# Numbers typed as numbers: (value, its number format or None for General, the text a spreadsheet shows, the text
# it is read as). A format's zero padding is what a person sees (org numbers, postal codes); its decimals and
# thousands are not (30 is 30, not 30.00: shown so, it is a number to the fields that take one).
NUMBER_FORMATS: tuple[tuple[float | datetime.date, str | None, str, str], ...] = (
    (123, None, "123", "123"),
    (12.5, None, "12.5", "12.5"),
    (123, "00000", "00123", "00123"),
    (5560000019, "000000\\-0000", "556000-0019", "556000-0019"),  # 000000-0000 as Excel and LibreOffice save it
    (12345, "000 00", "123 45", "123 45"),
    (42, "00000;-00000", "00042", "00042"),
    (7, "000", "007", "007"),
    (30, "0.00", "30.00", "30"),
    (12.5, "0.00", "12.50", "12.5"),
    (30, "0.000", "30.000", "30"),  # not a built-in format: saved as its code
    (1234, "#,##0", "1,234", "1234"),
    (datetime.date(2019, 3, 1), "d mmm yyyy", "1 Mar 2019", "2019-03-01"),
)


def number_formats_sheet() -> list[list[Cell]]:
    """NUMBER_FORMATS as a sheet: each number in its format, then its format's code, what it shows, what is read."""
    return [
        ["Tal", "Format", "Visas", "Läses"],
        *(
            [Formatted(v, code, shown) if code else v, code or "General", shown, read]
            for v, code, shown, read in NUMBER_FORMATS
        ),
    ]


def customers_sheet(sheet: Worksheet, n: int, *, title: bool = True, start: int = 0) -> int:
    """An accountant's customer list: a merged title block and a blank row above the table (with `title`),
    then the header and `n` rows; returns the row number of the header."""
    if title:
        sheet.append([TITLE[0]])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
        sheet.append([TITLE[1]])
        sheet.append([])
    sheet.append(HEADERS)
    header = sheet.max_row
    for row in islice(rows(start + n, eu_every=7), start, None):
        sheet.append(row)
    return header


def customers_workbook(path: Path, n: int, **kw: Any) -> Path:
    book = openpyxl.Workbook()
    customers_sheet(book.active, n, **kw)
    book.active.title = "Kunder"
    book.save(path)
    return path


def with_cached_results(path: Path, results: dict[str, str]) -> Path:
    """Give formula cells (by reference, e.g. "C5") the results a spreadsheet program saves with them;
    openpyxl saves formulas without any."""
    with zipfile.ZipFile(path) as zf:
        parts = {name: zf.read(name) for name in zf.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    for ref, value in results.items():
        sheet, found = re.subn(
            rf'<c r="{ref}"([^>]*)><f>(.*?)</f><v\s*/>',
            rf'<c r="{ref}"\1 t="str"><f>\2</f><v>{escape(value)}</v>',
            sheet,
        )
        assert found == 1, ref
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


def encrypted(path: Path, password: str = "hemligt") -> Path:
    """The workbook as Excel saves it with a password to open it."""
    out = io.BytesIO()
    with open(path, "rb") as f:
        msoffcrypto.format.ooxml.OOXMLFile(f).encrypt(password, out)
    path.write_bytes(out.getvalue())
    return path


def zip_bomb(path: Path, inflated_mb: int = 600) -> Path:
    """A small .xlsx whose sheet inflates to `inflated_mb` MB (of one repeated byte)."""
    block = b" " * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet,
    ):
        for _ in range(inflated_mb):
            sheet.write(block)
    return path


_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        '<sheet name="Kunder" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def large_workbook(path: Path, table: Iterable[Sequence[str]]) -> Path:
    """An .xlsx of `table` (header first) in the XML openpyxl's write-only mode saves (inline strings), written
    directly: openpyxl takes some 13 s for 100,000 rows, this a second or two."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, text in _PARTS.items():
            zf.writestr(name, text)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main"><sheetData>'
            )
            for number, values in enumerate(table, 1):
                cells = "".join(
                    f'<c r="{_column(i)}{number}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
                    for i, v in enumerate(values)
                    if v
                )
                sheet.write(f'<row r="{number}">{cells}</row>'.encode())
            sheet.write(b"</sheetData></worksheet>")
    return path


_ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
    'manifest:1.0" manifest:version="1.3"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/'
    'vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type='
    '"text/xml"/></manifest:manifest>'
)
_ODS_CONTENT = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:'
    'xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:text="urn:oasis:names:tc:'
    'opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:number="urn:'
    'oasis:names:tc:opendocument:xmlns:datastyle:1.0" office:version="1.3"><office:automatic-styles>'
    '<number:number-style style:name="N1"><number:number number:decimal-places="0" number:min-integer-digits="5"/>'
    '</number:number-style><style:style style:name="ce1" style:family="table-cell" style:data-style-name="N1"/>'
    "</office:automatic-styles><office:body><office:spreadsheet>"
)


def large_ods(path: Path, table_: Iterable[Sequence[str]], padded: int) -> Path:
    """An .ods of `table_` (header first) as LibreOffice saves one, its column `padded` numbers in a column formatted
    00000 whole (so each of its cells is read for its format), written directly: odfpy builds the document in
    memory."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
        with zf.open("content.xml", "w", force_zip64=True) as content:
            content.write(_ODS_CONTENT.encode())
            content.write(
                f'<table:table table:name="Kunder"><table:table-column table:number-columns-repeated="{padded}"/>'
                '<table:table-column table:default-cell-style-name="ce1"/><table:table-column/>'.encode()
            )
            for i, values_ in enumerate(table_):
                cells = "".join(_ods_xml_cell(v, as_number=bool(i) and c == padded) for c, v in enumerate(values_))
                content.write(f"<table:table-row>{cells}</table:table-row>".encode())
            content.write(b"</table:table></office:spreadsheet></office:body></office:document-content>")
    return path


def _ods_xml_cell(value: str, *, as_number: bool) -> str:
    if as_number:
        return (
            f'<table:table-cell office:value-type="float" office:value="{int(value)}"><text:p>{value}</text:p>'
            "</table:table-cell>"
        )
    if value:
        return f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p></table:table-cell>'
    return "<table:table-cell/>"


def _column(index: int) -> str:
    return openpyxl.utils.get_column_letter(index + 1)


def customers_table(n: int) -> Iterable[Sequence[str]]:
    yield HEADERS
    yield from rows(n, eu_every=7)


def xlsx_workbook(path: Path, sheets: dict[str, Sequence[Sequence[Cell]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows_ in sheets.items():
        sheet = book.create_sheet(name)
        for r, row in enumerate(rows_, 1):
            for c, value in enumerate(row, 1):
                cell = sheet.cell(r, c, value.value if isinstance(value, Formatted) else value)
                if isinstance(value, Formatted):
                    cell.number_format = value.code
    book.save(path)
    return path


def xls_workbook(path: Path, sheets: dict[str, Sequence[Sequence[Cell]]]) -> Path:
    """An Excel 97-2003 workbook, by xlwt (a BIFF8 writer); a date without a format in YYYY-MM-DD."""
    book = xlwt.Workbook(encoding="utf-8")
    formats: dict[str, xlwt.XFStyle] = {}
    for name, rows_ in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows_):
            for c, value in enumerate(row):
                if isinstance(value, datetime.date):
                    value = Formatted(value, "YYYY-MM-DD", "")
                if isinstance(value, Formatted):
                    code = value.code
                    sheet.write(r, c, value.value, formats.setdefault(code, xlwt.easyxf(num_format_str=code)))
                elif value is not None:
                    sheet.write(r, c, value)
    book.save(str(path))
    return path


def ods_workbook(
    path: Path, sheets: dict[str, Sequence[Sequence[Cell]]], column_formats: dict[str, dict[int, str]] | None = None
) -> Path:
    """An OpenDocument spreadsheet, by odfpy, as LibreOffice saves one: its number styles in styles.xml, its cell
    styles among content.xml's automatic styles, each cell's text as shown, equal rows next to each other once with
    their count (and so equal cells in a row). A column of `column_formats` (sheet ->
    column -> format code) is formatted whole: the style is its default cell style, its cells have none of their
    own."""
    doc = OpenDocumentSpreadsheet()
    cell_styles: dict[str, str] = {}

    def cell_style(code: str) -> str:
        if code not in cell_styles:
            name = f"N{len(cell_styles) + 1}"
            for number_style in _ods_number_styles(name, code):
                doc.styles.addElement(number_style)
            cell_styles[code] = f"ce{len(cell_styles) + 1}"
            doc.automaticstyles.addElement(style.Style(name=cell_styles[code], family="table-cell", datastylename=name))
        return cell_styles[code]

    for name, rows_ in sheets.items():
        sheet = table.Table(name=name)
        whole = (column_formats or {}).get(name, {})
        for c in range(max(map(len, rows_), default=0)):
            sheet.addElement(table.TableColumn(defaultcellstylename=cell_style(whole[c]) if c in whole else "Default"))
        for row, same_rows in groupby(map(tuple, rows_)):
            styled = []
            for c, value in enumerate(row):
                own = value.code if isinstance(value, Formatted) and isinstance(value.value, float | int) else None
                styled.append((value, cell_style(own) if own and whole.get(c) != own else None))
            repeated = len(list(same_rows))
            element = table.TableRow(numberrowsrepeated=repeated) if repeated > 1 else table.TableRow()
            for (value, style_name), same_cells in groupby(styled):
                element.addElement(_ods_cell(value, style_name, len(list(same_cells))))
            sheet.addElement(element)
        doc.spreadsheet.addElement(sheet)
    doc.save(str(path))
    return path


def _ods_cell(value: Cell, style_name: str | None, repeated: int) -> table.TableCell:
    shown = value.shown if isinstance(value, Formatted) else None
    value = value.value if isinstance(value, Formatted) else value
    kw: dict[str, Any] = {"numbercolumnsrepeated": repeated} if repeated > 1 else {}
    if style_name:
        kw["stylename"] = style_name
    if value is None:
        return table.TableCell(**kw)
    if isinstance(value, str):
        cell = table.TableCell(valuetype="string", **kw)
    elif isinstance(value, datetime.date):
        cell = table.TableCell(valuetype="date", datevalue=value.isoformat(), **kw)
        shown = shown or f"{value:%d.%m.%Y}"  # a locale's date: the reader takes the date, not this
    else:
        cell = table.TableCell(valuetype="float", value=value, **kw)
    cell.addElement(text.P(text=shown or str(value)))
    return cell


def _ods_number_styles(name: str, code: str) -> list[number.NumberStyle]:
    """The number style of `code`; of two sections, LibreOffice saves the first as its own style, applied by a map
    to numbers of 0 or more."""
    positive, _, negative = code.partition(";")
    if not negative:
        return [_ods_number_style(name, positive)]
    main = _ods_number_style(name, negative)
    main.addElement(style.Map(condition="value()>=0", applystylename=f"{name}P0"))
    return [_ods_number_style(f"{name}P0", positive), main]


def _ods_number_style(name: str, code: str) -> number.NumberStyle:
    """Zeros with literals among them (an embedded text, at the count of digits right of it), decimals after a
    point, thousands by a comma, a literal before."""
    element = number.NumberStyle(name=name)
    digits = code.replace("\\", "").lstrip("-")
    if digits != code.replace("\\", ""):
        element.addElement(number.Text(text="-"))
    whole, _, decimals = digits.partition(".")
    grouping = "," in whole
    whole = whole.replace("#", "").replace(",", "")
    part = number.Number(
        decimalplaces=len(decimals), minintegerdigits=whole.count("0"), grouping="true" if grouping else "false"
    )
    for i, symbol in enumerate(whole):
        if symbol != "0":
            part.addElement(number.EmbeddedText(position=whole.count("0", i), text=symbol))
    element.addElement(part)
    return element
