"""Changing existing customers and suppliers the way the registry's PATCH does, for the jobs that update them
(a CRM sync, a file import matching its rows to records).

PATCH rules: only the fields that change are written, with `updated_at`; a customer's changed VAT number is
unvalidated and, when VIES knows it, checked again (a `vat_checks` row committed with the change, as a new
customer's is on create); `archived_at` is never touched here (a caller that archives says so itself).
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, update
from sqlalchemy.ext.asyncio import AsyncConnection

from registry.fields import Kind, payload_fields
from registry.ids import as_uuid
from registry.items import needs_vies
from registry.tables import vat_checks

FIRST_RECHECK = timedelta(minutes=1)


def vat_status(values: Mapping[str, Any]) -> str:
    """A customer's VIES state for these values: pending when VIES is to check its VAT number."""
    return "pending" if needs_vies(values) else "not_applicable"


def changes(kind: Kind, current: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The fields `given` changes in `current`, PATCH style: a field given as None (a blank cell) is not given,
    so it never erases a stored value."""
    return {f: v for f in payload_fields(kind) if (v := given.get(f)) is not None and v != current.get(f)}


def with_vat_state(kind: Kind, current: Mapping[str, Any], changed: dict[str, Any]) -> bool:
    """Add the VIES state a changed VAT number (or customer type) resets to `changed`; whether it did."""
    if kind != "customers" or not ("vat_number" in changed or "customer_type" in changed):
        return False
    merged = {**current, **changed}
    status = vat_status(merged)
    if "vat_number" not in changed and status == current.get("vat_check_status"):
        return False
    changed.update(vat_number_validated=False, vat_check_status=status)
    return True


@cache
def _update_many(table: Table, columns: tuple[str, ...]) -> Any:
    # COALESCE: a row leaves a column it does not change as it is, so one statement serves rows that change
    # different fields (executemany: one prepared statement for the lot).
    values: dict[str, Any] = {name: func.coalesce(bindparam(f"v_{name}", type_=table.c[name].type), table.c[name])
                              for name in columns}  # fmt: skip
    values["updated_at"] = bindparam("v_updated_at", type_=table.c.updated_at.type)
    where = (table.c.id == bindparam("v_id", type_=table.c.id.type), table.c.company_id == bindparam("v_company"))
    return update(table).where(*where).values(values)


async def update_many(
    conn: AsyncConnection,
    table: Table,
    company_id: str,
    changed: Sequence[tuple[str, Mapping[str, Any]]],
    now: datetime,
) -> None:
    """Write each (id, changed fields) in one statement, with `updated_at`."""
    if not changed:
        return
    columns = tuple(sorted({name for _, fields in changed for name in fields}))
    rows = [
        {"v_id": as_uuid(entity), "v_company": company_id, "v_updated_at": now,
         **{f"v_{name}": fields.get(name) for name in columns}}
        for entity, fields in changed
    ]  # fmt: skip
    await conn.execute(_update_many(table, columns), rows)


async def set_fields(
    conn: AsyncConnection, table: Table, company_id: str, entity_id: str, values: Mapping[str, Any], now: datetime
) -> None:
    """One record's fields as given, None included (a PATCH that clears a field), with `updated_at`."""
    target = update(table).where(table.c.id == as_uuid(entity_id), table.c.company_id == company_id)
    await conn.execute(target.values({**values, "updated_at": now}))


async def set_archived(conn: AsyncConnection, table: Table, company_id: str, entity_id: str, now: datetime) -> None:
    """Archive a record unless it is archived already (its first archiving time stays)."""
    target = update(table).where(
        table.c.id == as_uuid(entity_id), table.c.company_id == company_id, table.c.archived_at.is_(None)
    )
    await conn.execute(target.values(archived_at=now, updated_at=now))


async def recheck_vat(
    conn: AsyncConnection, company_id: str, checks: Sequence[tuple[str | uuid.UUID, str | None, str]], now: datetime
) -> list[dict[str, Any]]:
    """After customers' VAT numbers changed: drop their pending checks, and add one for each (id, VAT number,
    status) whose status is pending. Returns those customers as `jobs.vat.VatChecker.submit` takes them."""
    if not checks:
        return []
    await conn.execute(delete(vat_checks).where(vat_checks.c.customer_id.in_([as_uuid(c[0]) for c in checks])))
    pending = [(as_uuid(entity), vat) for entity, vat, status in checks if status == "pending" and vat]
    if pending:
        rows = [
            {"customer_id": entity, "company_id": company_id, "vat_number": vat, "attempts": 0,
             "first_attempt_at": now, "next_attempt_at": now + FIRST_RECHECK, "last_error": None}
            for entity, vat in pending
        ]  # fmt: skip
        await conn.execute(vat_checks.insert(), rows)
    return [{"id": str(entity), "vat_number": vat, "vat_check_status": "pending"} for entity, vat in pending]
