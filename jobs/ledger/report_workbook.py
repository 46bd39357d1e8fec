"""The report of a run as an .xlsx workbook: the CSV report's columns, with each failed row's failing cells
filled and the reason on them as a comment, for support staff to fix in a spreadsheet and reimport as it is.

Every value is stored as text, as the source had it (leading zeros, and a value starting with `=` stays a
string: nothing from an imported file is ever run as a formula). Written in openpyxl's write-only mode, row by
row, so a large run's report does not sit in memory.
"""

from collections.abc import Mapping, Sequence
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.headers import PSEUDO_FIELDS, REPORT_COLUMNS, build_mapping
from jobs.ledger.report import our_columns, report_table

# Excel's own "Bad" cell style, which people know to mean "fix this".
_FAILED_FILL = PatternFill("solid", fgColor="FFC7CE")
_FAILED_FONT = Font(color="9C0006")
_HEADER_FONT = Font(bold=True)
_AUTHOR = "rostersync"
_MESSAGE_AT = REPORT_COLUMNS.index("error_message")


def _columns_of_fields(run: Mapping[Any, Any], headers: Sequence[str]) -> dict[str, list[int]]:
    """Field -> the source columns (report column indexes) its values came from, as the run mapped them."""
    if run["headers"] is None:  # an API's records: no columns of their own to point at
        return {}
    try:
        mapping = build_mapping(headers, run["kind"], (run["options"] or {}).get("mapping"))
    except ValueError:  # a mapping of an older run that no longer builds: the message cell still says it all
        return {}
    found: dict[str, list[int]] = {}
    for index, field in mapping.fields.items():
        found.setdefault(PSEUDO_FIELDS.get(field, field), []).append(len(REPORT_COLUMNS) + index)
    return found


def _text_cell(sheet: WriteOnlyWorksheet, value: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", value))
    cell.data_type = "s"  # openpyxl takes a string starting with = for a formula
    return cell


def _marked(cell: WriteOnlyCell, reason: str) -> WriteOnlyCell:
    cell.fill = _FAILED_FILL
    cell.font = _FAILED_FONT
    cell.comment = Comment(reason, _AUTHOR, width=320, height=120)
    return cell


async def write_workbook_report(
    engine: AsyncEngine, run: Mapping[Any, Any], out: IO[bytes], *, failed_only: bool = False
) -> int:
    """Write the report of `run` as an .xlsx workbook to `out`; returns the number of rows written."""
    headers, lines = await report_table(engine, run, failed_only)
    fields = _columns_of_fields(run, headers)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("failed rows" if failed_only else "rows")
    sheet.freeze_panes = "A2"
    header = []
    for name in (*REPORT_COLUMNS, *headers):
        cell = _text_cell(sheet, name)
        cell.font = _HEADER_FONT
        header.append(cell)
    sheet.append(header)
    count = 0
    async for row, source in lines:
        number, *ours = our_columns(row)
        cells = [WriteOnlyCell(sheet, int(number)), *(_text_cell(sheet, v) for v in (*ours, *source))]
        if row["status"] == "failed":
            reason = row["error_message"] or row["error_code"] or "failed"
            marked = {i for f in (row["error_field"] or "").split(",") for i in fields.get(f.strip(), ())}
            for i in marked or {_MESSAGE_AT}:
                if i < len(cells):
                    _marked(cells[i], reason)
        sheet.append(cells)
        count += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{count + 1}"
    book.save(out)
    return count
