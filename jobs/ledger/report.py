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
from jobs.ledger import run_rows
from registry.clock import utc
from registry.tables import customers, vat_checks


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


async def _rows(engine: AsyncEngine, run: Mapping[Any, Any], failed_only: bool) -> AsyncIterator[dict[str, Any]]:
    """The run's rows in the order it read them; for customers with each one's current VIES state (rechecks
    included)."""
    customers_run = run["kind"] == "customers"
    async for batch in run_rows.rows(engine, run["id"], failed_only=failed_only):
        vies = await _vies_states(engine, run, [r.outcome.entity_id for r in batch]) if customers_run else {}
        for outcome, raw in batch:
            yield {**outcome._asdict(), **vies.get(outcome.entity_id or "", {}), "raw": raw}


async def _vies_states(engine: AsyncEngine, run: Mapping[Any, Any], ids: list[str | None]) -> dict[str, Any]:
    """The VIES state of the customers a batch created, by id (as text)."""
    wanted = [uuid.UUID(i) for i in ids if i is not None]
    if not wanted:
        return {}
    query = (
        select(customers.c.id, customers.c.vat_check_status, customers.c.vat_number, vat_checks.c.next_attempt_at,
               vat_checks.c.last_error)
        .select_from(customers.outerjoin(vat_checks, vat_checks.c.customer_id == customers.c.id))
        .where(customers.c.company_id == run["company_id"], customers.c.id.in_(wanted))
    )  # fmt: skip
    async with engine.connect() as conn:
        return {str(row["id"]): dict(row) for row in (await conn.execute(query)).mappings()}


REASONS = {"COOLDOWN": "VIES kept failing; calls are paused for a while"}


def vies_note(row: Mapping[str, Any]) -> tuple[str, str] | None:
    """(code, message) for a customer whose VAT number is not (yet) confirmed by VIES."""
    status, vat = row.get("vat_check_status"), row.get("vat_number")
    if status == "invalid":
        return "VIES_INVALID", f"VIES says {vat} is not a valid VAT number; the customer was created"
    if status == "pending":
        when = row.get("next_attempt_at")
        error = row.get("last_error")
        reason = f" ({REASONS.get(error, error)})" if error else ""
        at = f"; next try {utc(when):%Y-%m-%d %H:%M} UTC" if when else ""
        return "VIES_PENDING", f"VIES has not answered for {vat} yet{reason}{at}"
    if status == "unavailable":
        return "VIES_UNAVAILABLE", f"VIES gave no answer for {vat} within 7 days"
    return None


def our_columns(row: Mapping[str, Any]) -> list[str]:
    codes, fields, messages = row["error_code"], row["error_field"], row["error_message"]
    note = vies_note(row) if row["status"] != "failed" else None
    if note is not None:
        codes = ",".join(filter(None, (codes, note[0])))
        fields = ",".join(filter(None, (fields, "vat_number")))
        messages = "; ".join(filter(None, (messages, note[1])))
    return [
        str(row["row_number"]),
        row["status"],
        codes or "",
        fields or "",
        messages or "",
        str(row["entity_id"] or ""),
    ]


async def report_table(
    engine: AsyncEngine, run: Mapping[Any, Any], failed_only: bool
) -> tuple[list[str], AsyncIterator[tuple[Mapping[str, Any], list[str]]]]:
    """The report's source headers, and its rows: each as the ledger has it, with the source's values."""
    headers: list[str] | None = run["headers"]
    if headers is None:  # rows from an API: their keys, in first-seen order
        seen: dict[str, None] = {}
        async for row in _rows(engine, run, failed_only):
            seen.update(dict.fromkeys(_flatten(row["raw"])))
        headers = list(seen)

    async def lines() -> AsyncIterator[tuple[Mapping[str, Any], list[str]]]:
        async for row in _rows(engine, run, failed_only):
            raw = row["raw"]
            flat = _flatten(raw) if isinstance(raw, Mapping) else None
            yield row, [(flat.get(h) or "") for h in headers] if flat is not None else [v or "" for v in raw]

    return headers, lines()


async def write_report(
    engine: AsyncEngine, run: Mapping[Any, Any], out: TextIO, *, failed_only: bool = False, delimiter: str = ","
) -> int:
    """Write the report CSV of `run` (a row of `import_runs`) to `out`; returns the number of rows written."""
    headers, lines = await report_table(engine, run, failed_only)
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([*REPORT_COLUMNS, *(escape_cell(h) for h in headers)])
    count = 0
    async for row, source in lines:
        writer.writerow([escape_cell(v) for v in (*our_columns(row), *source)])
        count += 1
    return count
