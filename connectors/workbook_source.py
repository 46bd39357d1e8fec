"""Reading one sheet of a workbook (.xlsx, .xlsm, .xls, .ods) as rows of text, as a person sees them in a
spreadsheet, under the workbook's own row numbers.

python-calamine (Rust) reads the values: on 200,000 rows (bench/xlsx_bench.py) it reads a sheet some fifteen
times faster than openpyxl's read-only mode, and pandas.read_excel over it only adds a DataFrame (twice the
memory, no row numbers). What it does not tell (a number's zero-padded display format such as 00000, and in an
.xlsx which cell holds a formula or a cached error) the workbook's own parts tell: an .xlsx sheet's XML, an .ods
sheet's styles, an .xls's format records (by xlrd). They are read for those only when the workbook has any
(`_details`).

`WorkbookSource` answers as `CsvSource` does (headers, header_line, check, rows), so an import reads either
the same way. A sheet is read whole by calamine: the size limits below bound the memory that takes.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final
from xml.etree import ElementTree

from connectors.csv_source import SourceError, SourceRow, header_names
from connectors.headers import known_header

# python-calamine and xlrd are imported where a workbook is read: a process that reads none (a CSV import, the
# API server until a workbook comes) does not load them.
if TYPE_CHECKING:
    import python_calamine as calamine

__all__ = ["MAX_INFLATED_BYTES", "MAX_WORKBOOK_BYTES", "WORKBOOK_SUFFIXES", "SheetInfo", "WorkbookSource"]

WORKBOOK_SUFFIXES: Final = (".xlsx", ".xlsm", ".xls", ".ods")
MAX_WORKBOOK_BYTES: Final = 64 << 20
# What the zip members may inflate to: calamine holds the sheet's cells in memory (some 130 MB of XML and
# 200 MB of memory for 200,000 rows of twelve columns), so this bounds a read to roughly 500,000 such rows.
MAX_INFLATED_BYTES: Final = 384 << 20
# Sheet XML compresses some ten to one, a sheet of one repeated value perhaps a hundred to one; a member that
# inflates by more than this is built to exhaust memory (a zip bomb).
MAX_RATIO: Final = 200
_HEADER_SCAN: Final = 30  # rows looked at for the header when none is named: title blocks are short
_CFB_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE2 container: .xls, or an encrypted .xlsx/.ods
_NS: Final = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS: Final = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS: Final = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# A number format of zeros and literals between them: 00000, 000000-0000, 000 00, 000000\-0000, 000" "00. An
# unquoted '.' is the decimal point: 0.00 pads nothing.
_LITERAL: Final = r'(?:[- ]|\\[- .]|"[- .]*")'
_ZERO_PADDED: Final = re.compile(rf"0{_LITERAL}*0(?:0|{_LITERAL})*")
_UNCACHED: Final = object()  # a formula cell without a saved result


@dataclass(frozen=True)
class SheetInfo:
    name: str
    hidden: bool


def is_workbook(name: str) -> bool:
    return name.lower().endswith(WORKBOOK_SUFFIXES)


class WorkbookSource:
    """One sheet of a workbook: the first visible one, or `sheet` (its name, or its number counting from 1)."""

    encoding: str | None = None
    delimiter: str | None = None
    plain = None  # never read by slots: calamine reads a sheet whole
    has_nuls = False
    headers: tuple[str, ...]
    header_line: int

    def __init__(
        self, path: str, *, name: str | None = None, sheet: str | None = None, header_row: int | None = None
    ) -> None:
        self.path = path
        self.name = name or path
        self._check_container()
        import python_calamine as calamine

        with self._workbook() as book:
            self.sheets = [
                SheetInfo(m.name, m.visible != calamine.SheetVisibleEnum.Visible)
                for m in book.sheets_metadata
                if m.typ == calamine.SheetTypeEnum.WorkSheet
            ]
            self.sheet = self._choose(sheet)
        self._details = _details(self)
        self._find_header(header_row)

    def _error(self, message: str, row: int | None = None) -> SourceError:
        return SourceError(self.name, message, row, sheet=getattr(self, "sheet", None))

    def _check_container(self) -> None:
        """Refuse what calamine should not be given: too big, inflating beyond bounds, encrypted, not a workbook."""
        try:
            size = os.path.getsize(self.path)
            with open(self.path, "rb") as f:
                magic = f.read(8)
        except OSError as exc:
            raise self._error(f"cannot read the file: {exc.strerror}") from None
        if size > MAX_WORKBOOK_BYTES:
            raise self._error(
                f"the workbook is {size / 2**20:.0f} MB; at most {MAX_WORKBOOK_BYTES >> 20} MB are read "
                "(save the sheet as CSV, or split it)"
            )
        if magic == _CFB_MAGIC and not self.name.lower().endswith(".xls"):
            # Excel and LibreOffice store an encrypted .xlsx/.ods in an OLE2 container, as an old .xls is.
            raise self._error("the workbook is password-protected: save a copy without a password and import that")
        if magic.startswith(b"PK"):
            self._check_zip()
        elif magic == _CFB_MAGIC and not _read_apart(self.path):
            raise self._error("the workbook is damaged (its records cannot be read)")

    def _check_zip(self) -> None:
        try:
            with zipfile.ZipFile(self.path) as zf:
                members = zf.infolist()
                encrypted = any(m.flag_bits & 0x1 for m in members) or b"encryption-data" in _manifest(zf)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise self._error(f"the workbook is damaged (not a readable zip archive: {exc})") from None
        if encrypted:
            raise self._error("the workbook is password-protected: save a copy without a password and import that")
        inflated = sum(m.file_size for m in members)
        bomb = next((m for m in members if m.file_size > (1 << 20) + MAX_RATIO * m.compress_size), None)
        if bomb is not None:
            raise self._error(
                f"refused: {bomb.filename} inflates {bomb.file_size // max(bomb.compress_size, 1):,} times "
                f"(to {bomb.file_size / 2**20:,.0f} MB); a workbook's parts do not (a zip bomb?)"
            )
        if inflated > MAX_INFLATED_BYTES:
            raise self._error(
                f"the workbook holds {inflated / 2**20:,.0f} MB of sheet data; at most "
                f"{MAX_INFLATED_BYTES >> 20} MB are read (save the sheet as CSV, or split it)"
            )

    def _workbook(self) -> calamine.CalamineWorkbook:
        import python_calamine as calamine

        try:
            return calamine.CalamineWorkbook.from_path(self.path)
        except calamine.PasswordError:
            raise self._error("the workbook is password-protected: save a copy without a password") from None
        except (calamine.CalamineError, ValueError, OSError) as exc:
            raise self._error(f"the workbook is damaged or not a workbook ({_one_line(exc)})") from None

    def _choose(self, wanted: str | None) -> str:
        names = [s.name for s in self.sheets]
        listed = ", ".join(f"{s.name!r}" + (" (hidden)" if s.hidden else "") for s in self.sheets)
        if wanted is None:
            visible = [s.name for s in self.sheets if not s.hidden]
            if not visible:
                raise self._error(f"the workbook has no visible sheet (sheets: {listed or 'none'})")
            return visible[0]
        if wanted in names:
            return wanted
        folded = [n for n in names if n.casefold() == wanted.strip().casefold()]
        if folded:
            return folded[0]
        if wanted.strip().isdigit() and 1 <= int(wanted) <= len(names):
            return names[int(wanted) - 1]
        raise self._error(f"no sheet {wanted!r}: the sheets are {listed} (give a name, or a number from 1)")

    # -- reading -----------------------------------------------------------------------------------

    def _lines(self) -> Iterator[tuple[int, list[str]]]:
        """(row number, cell texts from column A) of every row that is not blank, nor a merged title or
        section line; cells calamine cannot tell (`_details`) as `_UNCACHED` or their displayed text."""
        import python_calamine as calamine

        with self._workbook() as book:
            try:
                sheet = book.get_sheet_by_name(self.sheet)
                first_row, first_col = sheet.start or (0, 0)
                banners = {(r0, c0) for (r0, c0), (r1, c1) in sheet.merged_cell_ranges or () if c1 > c0 and r1 >= r0}
                pad = [""] * first_col
                details = self._details
                for number, row in enumerate(sheet.iter_rows(), first_row + 1):
                    cells = [v if v.__class__ is str else _text(v) for v in row]
                    if first_col:
                        cells = pad + cells
                    if number in details:
                        for col, shown in details[number].items():
                            while len(cells) <= col:
                                cells.append("")
                            cells[col] = shown
                    elif not "".join(cells).strip():
                        continue
                    if banners:
                        filled = [c for c, v in enumerate(cells) if v is _UNCACHED or (v and not v.isspace())]
                        if all((number - 1, c) in banners for c in filled):
                            continue
                    yield number, cells
            except calamine.CalamineError as exc:
                raise self._error(f"the sheet cannot be read ({_one_line(exc)})") from None

    def _find_header(self, header_row: int | None) -> None:
        """Find the header, and count the rows below it (in the same read: a read is of the whole sheet)."""
        candidates: list[tuple[int, list[Any]]] = []
        named: list[Any] | None = None
        numbers: list[int] = []
        for number, cells in self._lines():
            numbers.append(number)
            if len(candidates) < _HEADER_SCAN:
                candidates.append((number, cells))
            if number == header_row:
                named = cells
        if header_row is not None:
            if named is None:
                raise self._error("the row is empty or a title: --header-row names the row of column names", header_row)
            line, record = header_row, named
        elif not candidates:
            raise self._error("the sheet is empty")
        else:
            # The row naming the most known fields; before any, the first row (a header of other names).
            scores = [sum(known_header(v) for v in cells if isinstance(v, str)) for _, cells in candidates]
            best = scores.index(max(scores))
            line, record = candidates[best]
        try:
            self.headers = header_names([v if isinstance(v, str) else "" for v in record])
        except ValueError as exc:
            raise self._error(f"{exc} (name the header row with --header-row N)", line) from None
        self.header_line = line
        self._count = len(numbers) - bisect_right(numbers, line)

    def check(self, slot_rows: int = 400) -> int:
        """The number of data rows (a sheet has no structure to check beyond its header)."""
        if self._count == 0:
            raise self._error("there are no data rows below the header", self.header_line)
        return self._count

    def rows(self, slot: int | None = None) -> Iterator[SourceRow]:
        if slot is not None:
            raise ValueError("a workbook is not read by slots")
        n = len(self.headers)
        for number, cells in self._lines():
            if number <= self.header_line:
                continue
            uncached = next((c for c, v in enumerate(cells) if v is _UNCACHED), None)
            values = tuple(v if isinstance(v, str) else "" for v in cells[:n])
            if len(values) < n:
                values += ("",) * (n - len(values))
            if uncached is not None:
                where = _cell_name(uncached, number)
                header = f" ({self.headers[uncached]})" if uncached < n else ""
                yield SourceRow(
                    number,
                    values,
                    f"cell {where}{header} is a formula without a saved result (or with an error): open the "
                    "workbook in a spreadsheet, let it calculate, fix the cell and save it again",
                    uncached if uncached < n else None,
                )
            elif any(v and not v.isspace() for v in cells[n:]):
                last = max(c for c, v in enumerate(cells) if v and not v.isspace())
                yield SourceRow(
                    number,
                    tuple(cells[: last + 1]),
                    f"cell {_cell_name(last, number)} has a value but the header has only {n} columns",
                )
            else:
                yield SourceRow(number, values)


def _text(value: Any) -> str:
    """A cell's value as a spreadsheet shows it by default: whole numbers without a decimal point, dates ISO."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"
    if isinstance(value, datetime):
        if value.time() == time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _cell_name(col: int, row: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row}"


_CELL_REF: Final = re.compile(r"([A-Z]+)(\d+)")


def _cell_position(ref: str) -> tuple[int, int] | None:
    """(row number, column index) of a reference such as C7."""
    match = _CELL_REF.fullmatch(ref)
    if match is None:
        return None
    col = 0
    for letter in match[1]:
        col = col * 26 + ord(letter) - 64
    return int(match[2]), col - 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _manifest(zf: zipfile.ZipFile) -> bytes:
    try:
        return zf.read("META-INF/manifest.xml")[: 1 << 20]
    except KeyError:
        return b""


def _details(source: WorkbookSource) -> dict[int, dict[int, Any]]:
    """Row number -> column -> what the cell shows, for the cells calamine reads otherwise: a number shown
    zero-padded (00123), whose format calamine does not tell, and in an .xlsx a formula without a saved result or
    a cached error (`_UNCACHED`)."""
    suffix = os.path.splitext(source.name.lower())[1]
    try:
        if suffix in (".xlsx", ".xlsm"):
            return _xlsx_details(source)
        if suffix == ".ods":
            return _ods_details(source)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError, ValueError) as exc:
        raise source._error(f"the workbook is damaged ({_one_line(exc)})") from None
    if suffix == ".xls":
        try:
            return _xls_details(source)
        except Exception as exc:  # xlrd fails on a damaged file as it happens to: IndexError, AssertionError...
            raise source._error(f"the workbook is damaged ({_one_line(exc)})") from None
    return {}


# -- what an .xlsx sheet's XML adds to calamine's values --------------------------------------------------

# A formula element (<f>, or <x:f> with a prefix) or a cell of type error, looked for with bytes' own search:
# a regular expression tries at every '<' of the sheet, some fifty times slower.
_MARKERS: Final = (b"<f>", b"<f ", b":f>", b":f ", b't="e"')
_SCAN_BLOCK: Final = 1 << 20


def _xlsx_details(source: WorkbookSource) -> dict[int, dict[int, Any]]:
    """Empty for the usual export, which has none: its XML is then only scanned, not parsed."""
    with zipfile.ZipFile(source.path) as zf:
        part = _sheet_part(zf, source.sheet)
        padded = _padded_styles(zf)
        if part is None or (not padded and not _has_markers(zf, part)):
            return {}
        return _parse_details(zf, part, padded)


def _xml(zf: zipfile.ZipFile, part: str) -> ElementTree.Element:
    # The workbook's small parts; expat refuses entity expansion bombs itself.
    return ElementTree.fromstring(zf.read(part))  # noqa: S314


def _sheet_part(zf: zipfile.ZipFile, name: str) -> str | None:
    workbook = _xml(zf, "xl/workbook.xml")
    rel_id = next(
        (s.get(f"{_REL_NS}id") for s in workbook.iter(f"{_NS}sheet") if s.get("name") == name),
        None,
    )
    rels = _xml(zf, "xl/_rels/workbook.xml.rels")
    target = next((r.get("Target") for r in rels.iter(f"{_PKG_REL_NS}Relationship") if r.get("Id") == rel_id), None)
    if target is None:
        return None
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _padded_styles(zf: zipfile.ZipFile) -> dict[int, str]:
    """Cell style index -> a zero-padded number format it shows numbers in."""
    if "xl/styles.xml" not in zf.namelist():
        return {}
    styles = _xml(zf, "xl/styles.xml")
    formats = {int(f.get("numFmtId", "-1")): f.get("formatCode") or "" for f in styles.iter(f"{_NS}numFmt")}
    xfs = styles.find(f"{_NS}cellXfs")
    found = {}
    for index, xf in enumerate(xfs if xfs is not None else ()):
        if code := _padding(formats.get(int(xf.get("numFmtId", "0")), "")):
            found[index] = code
    return found


def _padding(code: str) -> str | None:
    """The zeros and literals (unquoted) a number format shows a number of 0 or more in, if it pads with zeros."""
    positive = code.split(";")[0]
    if not _ZERO_PADDED.fullmatch(positive):
        return None
    return positive.replace('"', "").replace("\\", "")


def _has_markers(zf: zipfile.ZipFile, part: str) -> bool:
    tail = b""
    with zf.open(part) as f:
        while block := f.read(_SCAN_BLOCK):
            data = tail + block
            if any(marker in data for marker in _MARKERS):
                return True
            tail = block[-8:]
    return False


def _parse_details(zf: zipfile.ZipFile, part: str, padded: dict[int, str]) -> dict[int, dict[int, Any]]:
    details: dict[int, dict[int, Any]] = {}
    cell, formula, value, kind = f"{_NS}c", f"{_NS}f", f"{_NS}v", f"{_NS}row"
    with zf.open(part) as f:
        for _, element in ElementTree.iterparse(f):  # noqa: S314 - as `_xml`
            if element.tag == kind:
                element.clear()
                continue
            if element.tag != cell:
                continue
            where = _cell_position(element.get("r", ""))
            saved = element.findtext(value)
            shown: Any = None
            if element.get("t") == "e" or (element.find(formula) is not None and not saved):
                shown = _UNCACHED
            elif (code := padded.get(int(element.get("s", "0")))) and element.get("t", "n") == "n" and saved:
                shown = _zero_padded(saved, code)
            if shown is not None and where is not None:
                details.setdefault(where[0], {})[where[1]] = shown
    return details


def _zero_padded(saved: str, code: str) -> str:
    """A whole number as a format of zeros and literals shows it: 7 in 00000 is 00007, 5566778899 in
    000000-0000 is 556677-8899."""
    try:
        number = float(saved)
    except ValueError:
        return saved
    if not number.is_integer() or number < 0:
        return _text(number)
    digits = str(int(number)).rjust(code.count("0"), "0")
    out: list[str] = []
    for symbol in reversed(code):
        if symbol == "0":
            out.append(digits[-1])
            digits = digits[:-1]
        else:
            out.append(symbol)
    return digits + "".join(reversed(out))


# -- what an .xls workbook's formats add -------------------------------------------------------------------


def _xls_details(source: WorkbookSource) -> dict[int, dict[int, Any]]:
    """A cell of an .xls names its format through the workbook's XF and FORMAT records, which calamine does not
    give; xlrd reads them (and nothing but .xls). Empty, the sheet not read again, when no format pads: xlrd reads
    the formats alone first (on_demand)."""
    import xlrd

    book = xlrd.open_workbook(source.path, formatting_info=True, on_demand=True, logfile=io.StringIO())
    try:
        codes = {key: _padding(f.format_str or "") for key, f in book.format_map.items()}
        padded = {index: code for index, xf in enumerate(book.xf_list) if (code := codes.get(xf.format_key))}
        if not padded:
            return {}
        sheet = book.sheet_by_name(source.sheet)
        details: dict[int, dict[int, Any]] = {}
        for r in range(sheet.nrows):
            for c, kind in enumerate(sheet.row_types(r)):
                if kind == xlrd.XL_CELL_NUMBER and (code := padded.get(sheet.cell_xf_index(r, c))):
                    details.setdefault(r + 1, {})[c] = _zero_padded(repr(sheet.cell_value(r, c)), code)
        return details
    finally:
        book.release_resources()


def _read_apart(path: str) -> bool:
    """Whether calamine reads every sheet of an .xls without ending the process. On some damaged BIFF records
    it asks for a terabyte and aborts, which no exception catches; so it reads the file once in a child of its
    own first. An .xls holds at most 65,536 rows, so this costs a second at worst."""
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)  # its abort's backtrace is not for the user
            import python_calamine as calamine

            with calamine.CalamineWorkbook.from_path(path) as book:
                for name in book.sheet_names:
                    book.get_sheet_by_name(name).to_python()
        except BaseException:  # noqa: S110 - an error is the parent's to report, by reading the file itself
            pass
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


# -- what an .ods sheet's styles add ---------------------------------------------------------------------

_OFFICE: Final = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_TABLE: Final = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_STYLE: Final = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_NUMBER: Final = "{urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0}"
# A spreadsheet's own bounds (LibreOffice's and Excel's): a repeat count past them is no sheet's.
_MAX_ROWS: Final = 1 << 20
_MAX_COLUMNS: Final = 1 << 14


def _ods_details(source: WorkbookSource) -> dict[int, dict[int, Any]]:
    """Empty, the sheets not parsed, when no cell style pads: content.xml's automatic styles come before its body.
    A cell's text (text:p) is not read: it is the number in the saving program's locale (12,5 or 1 234)."""
    with zipfile.ZipFile(source.path) as zf:
        roots = [_xml(zf, "styles.xml")] if "styles.xml" in zf.namelist() else []
        with zf.open("content.xml") as f:
            events = ElementTree.iterparse(f, ("start", "end"))  # noqa: S314 - as `_xml`
            for event, element in events:
                if event == "end" and element.tag == f"{_OFFICE}automatic-styles":
                    roots.append(element)
                elif element.tag == f"{_OFFICE}body":
                    padded = _padded_cell_styles(roots)
                    return _ods_sheet(events, source.sheet, padded) if padded else {}
    return {}


def _padded_cell_styles(roots: list[ElementTree.Element]) -> dict[str, str]:
    """Cell style name -> the zero-padded format of its data style, its own or a parent style's."""
    numbers = {e.get(f"{_STYLE}name"): e for root in roots for e in root.iter(f"{_NUMBER}number-style")}
    cells = {
        e.get(f"{_STYLE}name"): e
        for root in roots
        for e in root.iter(f"{_STYLE}style")
        if e.get(f"{_STYLE}family") == "table-cell"
    }
    found = {}
    for name, style in cells.items():
        data = _data_style(style, cells)
        if name and data in numbers and (code := _padding(_ods_code(numbers[data], numbers))):
            found[name] = code
    return found


def _data_style(style: ElementTree.Element, cells: dict[str | None, ElementTree.Element]) -> str | None:
    for _ in cells:  # a chain of parents is no longer, unless it loops
        data, parent = style.get(f"{_STYLE}data-style-name"), cells.get(style.get(f"{_STYLE}parent-style-name"))
        if data or parent is None:
            return data
        style = parent
    return None


def _ods_code(style: ElementTree.Element, numbers: dict[str | None, ElementTree.Element]) -> str:
    """A number style of digits and literals as its format code: 00000, 000000"-"0000 (else ""). A style of
    sections applies the one for numbers of 0 or more by a map, as LibreOffice saves 00000;-00000."""
    for condition in style.iter(f"{_STYLE}map"):
        if condition.get(f"{_STYLE}condition") == "value()>=0":
            style = numbers.get(condition.get(f"{_STYLE}apply-style-name"), style)
    parts = [e for e in style if e.tag.startswith(_NUMBER)]  # not its map, nor its text properties (a colour)
    if [e.tag for e in parts] != [f"{_NUMBER}number"]:
        return ""
    number = parts[0]
    digits = int(number.get(f"{_NUMBER}min-integer-digits", "1"))
    # Beyond 20 digits no number of a spreadsheet's (15 significant) is shown: a file built to exhaust memory.
    if number.get(f"{_NUMBER}decimal-places", "0") != "0" or number.get(f"{_NUMBER}grouping") == "true" or digits > 20:
        return ""
    # An embedded text's position: how many of the number's digits stand right of it.
    literals = {int(e.get(f"{_NUMBER}position", "0")): e.text or "" for e in number.iter(f"{_NUMBER}embedded-text")}
    if any(position >= digits for position in literals):
        return ""
    return "".join("0" + (f'"{literals[k]}"' if k in literals else "") for k in range(digits - 1, -1, -1))


_SHEET: Final = f"{_TABLE}table"
_COLUMN: Final = f"{_TABLE}table-column"
_ROW: Final = f"{_TABLE}table-row"
_CELLS: Final = (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell")  # a merged cell's covered ones take columns
_DEFAULT_STYLE: Final = f"{_TABLE}default-cell-style-name"
_COLUMNS_REPEATED: Final = f"{_TABLE}number-columns-repeated"


def _ods_sheet(events: Iterator[tuple[str, Any]], name: str, padded: dict[str, str]) -> dict[int, dict[int, Any]]:
    """The padded numbers of sheet `name`, each row cleared once read (the rows of the sheets before it too). A cell
    without a style of its own has its row's default cell style, else its column's: LibreOffice saves a column
    formatted whole so. Repeated rows of padded numbers share one dict."""
    details: dict[int, dict[int, Any]] = {}
    inside = False
    columns: list[tuple[int, str]] = []
    row = column = 0  # rows and columns before the element at hand
    row_style = ""
    cells: dict[int, Any] = {}
    for event, element in events:
        tag = element.tag
        if tag in _CELLS:  # first: most of a sheet's events are its cells'
            if event == "start" and inside:
                repeated = _repeat(element.get(_COLUMNS_REPEATED), _MAX_COLUMNS - column)
                if element.get(f"{_OFFICE}value-type") == "float" and (
                    code := padded.get(
                        element.get(f"{_TABLE}style-name") or row_style or _column_style(columns, column)
                    )
                ):
                    shown = _zero_padded(element.get(f"{_OFFICE}value", ""), code)
                    cells.update(dict.fromkeys(range(column, column + repeated), shown))
                column += repeated
        elif tag == _ROW:
            if event == "start":
                row_style, column = element.get(_DEFAULT_STYLE, ""), 0
                continue
            repeated = _repeat(element.get(f"{_TABLE}number-rows-repeated"), _MAX_ROWS - row)
            if inside and cells:
                details.update(dict.fromkeys(range(row + 1, row + repeated + 1), cells))
                cells = {}
            row += repeated
            element.clear()
        elif tag == _SHEET and event == "start":
            inside, row, column = element.get(f"{_TABLE}name") == name, 0, 0
        elif tag == _SHEET and inside:
            break
        elif tag == _COLUMN and event == "start" and inside:
            columns.append((column, element.get(_DEFAULT_STYLE) or ""))
            column += _repeat(element.get(_COLUMNS_REPEATED), _MAX_COLUMNS - column)
    return details


def _column_style(columns: list[tuple[int, str]], column: int) -> str:
    """The default cell style of a column, from (first column, style) of the sheet's table:table-column."""
    at = bisect_right(columns, column, key=lambda c: c[0]) - 1
    return columns[at][1] if at >= 0 else ""


def _repeat(count: str | None, room: int) -> int:
    """A row's or column's repeat count, within the sheet's bounds."""
    return 1 if count is None else max(1, min(int(count), room))


def sheet_names(sheets: Sequence[SheetInfo]) -> list[str]:
    """The sheets as `rostersync mapping` lists them."""
    return [s.name + (" (hidden)" if s.hidden else "") for s in sheets]
