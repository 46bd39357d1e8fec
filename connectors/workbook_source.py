"""Reading one sheet of a workbook (.xlsx, .xlsm, .xls, .ods) as rows of text, as a person sees them in a
spreadsheet, under the workbook's own row numbers.

python-calamine (Rust) reads the values: on 200,000 rows (bench/xlsx_bench.py) it reads a sheet some fifteen
times faster than openpyxl's read-only mode, and pandas.read_excel over it only adds a DataFrame (twice the
memory, no row numbers). What it does not tell (which cell holds a formula or a cached error, and a number's
zero-padded display format such as 00000) an .xlsx sheet's XML tells; it is read for those only when it has
any (`_xlsx_details`).

`WorkbookSource` answers as `CsvSource` does (headers, header_line, check, rows), so an import reads either
the same way. A sheet is read whole by calamine: the size limits below bound the memory that takes.
"""

from __future__ import annotations

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

# python-calamine is imported where a workbook is read: a process that reads none (a CSV import, the API
# server until a workbook comes) does not load it.
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
_ZERO_PADDED: Final = re.compile(r'0[0\- ."]*0[0\- "]*')  # 00000, 000000-0000, "0000 00"...
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
            self._details = _xlsx_details(self, book) if self.name.lower().endswith((".xlsx", ".xlsm")) else {}
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


# -- what an .xlsx sheet's XML adds to calamine's values --------------------------------------------------

# A formula element (<f>, or <x:f> with a prefix) or a cell of type error, looked for with bytes' own search:
# a regular expression tries at every '<' of the sheet, some fifty times slower.
_MARKERS: Final = (b"<f>", b"<f ", b":f>", b":f ", b't="e"')
_SCAN_BLOCK: Final = 1 << 20


def _xlsx_details(source: WorkbookSource, book: calamine.CalamineWorkbook) -> dict[int, dict[int, Any]]:
    """Row number -> column -> what the cell shows, for the cells calamine reads otherwise: a formula without a
    saved result or a cached error (`_UNCACHED`), a number shown zero-padded (00123). Empty for the usual
    export, which has none: its XML is then only scanned, not parsed."""
    try:
        with zipfile.ZipFile(source.path) as zf:
            part = _sheet_part(zf, source.sheet)
            padded = _padded_styles(zf)
            if part is None or (not padded and not _has_markers(zf, part)):
                return {}
            return _parse_details(zf, part, padded)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise source._error(f"the workbook is damaged ({_one_line(exc)})") from None


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
    formats = {
        int(f.get("numFmtId", "-1")): (f.get("formatCode") or "").split(";")[0] for f in styles.iter(f"{_NS}numFmt")
    }
    xfs = styles.find(f"{_NS}cellXfs")
    found = {}
    for index, xf in enumerate(xfs if xfs is not None else ()):
        code = formats.get(int(xf.get("numFmtId", "0")), "")
        if _ZERO_PADDED.fullmatch(code):
            found[index] = code.replace('"', "")
    return found


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


def sheet_names(sheets: Sequence[SheetInfo]) -> list[str]:
    """The sheets as `rostersync mapping` lists them."""
    return [s.name + (" (hidden)" if s.hidden else "") for s in sheets]
