"""The per-row report of a run: our columns, then the source's own columns under their own headers.

It opens in a spreadsheet without running a formula from imported data, and it can be edited and fed back to
`rostersync reimport --file` as it is.
"""

import csv
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.csv_source import escape_cell
from connectors.headers import REPORT_COLUMNS
from jobs import runs
from registry.tables import import_rows


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = json.dumps(value, ensure_ascii=False)
        elif value is not None:
            flat[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return flat


async def _rows(engine: AsyncEngine, run_id: uuid.UUID, failed_only: bool) -> AsyncIterator[Any]:
    query = select(import_rows).where(import_rows.c.run_id == run_id).order_by(import_rows.c.row_number)
    if failed_only:
        query = query.where(import_rows.c.status == "failed")
    async with engine.connect() as conn:
        async for row in (await conn.stream(query.execution_options(yield_per=1000))).mappings():
            yield row


async def write_report(engine: AsyncEngine, run_id: str, out: TextIO, *, failed_only: bool = False) -> int:
    """Write the report CSV to `out`; returns the number of rows written."""
    run = await runs.get_run(engine, run_id)
    headers: list[str] | None = run["headers"]
    if headers is None:  # rows from an API: their keys, in first-seen order
        seen: dict[str, None] = {}
        async for row in _rows(engine, run["id"], failed_only):
            seen.update(dict.fromkeys(_flatten(row["raw"])))
        headers = list(seen)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*REPORT_COLUMNS, *(escape_cell(h) for h in headers)])
    count = 0
    async for row in _rows(engine, run["id"], failed_only):
        raw = row["raw"]
        source = [(_flatten(raw).get(h) or "") for h in headers] if isinstance(raw, Mapping) else [v or "" for v in raw]
        ours = [
            str(row["row_number"]),
            row["status"],
            row["error_code"] or "",
            row["error_field"] or "",
            row["error_message"] or "",
            str(row["entity_id"] or ""),
        ]
        writer.writerow([escape_cell(v) for v in (*ours, *source)])
        count += 1
    return count
