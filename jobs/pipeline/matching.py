"""Matching a file's rows to the records the company has already: `--mode upsert|create|update`.

A group of batches (the rows one transaction writes) is looked up in ONE query, by the org numbers, own numbers
(customer or supplier numbers) and VAT numbers of its valid records. Each record then matches, in this order:

1. the record with its org number;
2. else the record with its own number (customer_number / supplier_number);
3. else the record with its VAT number, unless that record has another org number or own number (a VAT number
   can be shared by a company's several accounts, so it only matches where nothing says otherwise).

A row whose org number matches one record and whose own number another, a key that matches two records, or an
own number whose record has another org number, fails as MATCH_CONFLICT naming both. A matched row is compared
with its record PATCH style (a blank cell is not a value): unchanged → skipped; changed → updated (modes upsert
and update) or skipped (mode create). A row that matches nothing is created (modes upsert and create) or fails as
NO_MATCH (mode update). Rows the file repeats are the in-file rules' (`batches.FirstLines`), before this.
"""

from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from jobs.pipeline.batches import DUPLICATE_NUMBER, Batch
from registry.bulk import store
from registry.fields import Kind, own_number, payload_fields
from registry.items import duplicate_error
from registry.patch import changes, recheck_vat, update_many, with_vat_state
from registry.plan import COLUMNS, Prepared, Settled
from registry.store import Keys
from registry.tables import PARTY_TABLES

MODES = ("upsert", "create", "update")
DEFAULT_MODE = "upsert"
STILL_ARCHIVED = "STILL_ARCHIVED"

_LABEL: dict[Kind, str] = {"customers": "customer", "suppliers": "supplier"}
_NUMBER: dict[Kind, str] = {kind: own_number(kind) for kind in _LABEL}


def _error(code: str, message: str, fields: dict[str, str]) -> dict[str, Any]:
    return {"code": code, "message": message, "fields": fields}


class Matcher:
    """Decides, and writes, what becomes of a group's records that match existing ones."""

    def __init__(self, kind: Kind, company_id: str, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        self.kind, self.company_id, self.mode = kind, company_id, mode
        self.table = PARTY_TABLES[kind]
        columns = COLUMNS[kind]
        self.columns = columns
        self.org, self.number, self.vat = (columns.index(c) for c in ("org_number", _NUMBER[kind], "vat_number"))
        self.archived = columns.index("archived_at")
        self.fields = payload_fields(kind)
        self._values = itemgetter(*(columns.index(f) for f in self.fields))
        # A reimport's family: the row that made each record (`lineage.owners`); a row matching a record another
        # row made fails as a duplicate of that row.
        self.owners: dict[str, int] = {}

    def keys(self, group: Sequence[Batch]) -> Keys:
        records = [r for b in group for r in b.request.records]
        org, number, vat = itemgetter(self.org), itemgetter(self.number), itemgetter(self.vat)
        return Keys(
            [v for v in map(org, records) if v is not None],
            [v for v in map(number, records) if v is not None],
            [v for v in map(vat, records) if v is not None],
        )

    async def lookup(self, conn: AsyncConnection, group: Sequence[Batch]) -> list[tuple[Any, ...]]:
        """The company's records the group's records may match (all the table's columns, the id as text)."""
        keys = self.keys(group)
        return await store(conn).matching(conn, self.table, self.company_id, keys) if keys else []

    async def settle(
        self, conn: AsyncConnection, group: Sequence[Batch], now: datetime, *, dry_run: bool
    ) -> list[dict[str, Any]]:
        """Match the group's records: the matched ones are left out of its requests (updated or skipped), the
        conflicting ones fail. Writes the updates (not in a dry run); returns the customers whose VAT number
        VIES is to check again."""
        found = await self.lookup(conn, group)
        if not found and self.mode != "update":
            return []  # the usual case of a new company's import: nothing to match, everything is created
        by_org = {r[self.org]: r for r in found if r[self.org] is not None}
        by_number: dict[str, list[tuple[Any, ...]]] = {}
        by_vat: dict[str, list[tuple[Any, ...]]] = {}
        for r in found:
            if r[self.number] is not None:
                by_number.setdefault(r[self.number], []).append(r)
            if r[self.vat] is not None:
                by_vat.setdefault(r[self.vat], []).append(r)
        updates: list[tuple[str, dict[str, Any]]] = []
        rechecks: list[tuple[str, str | None, str]] = []
        for batch in group:
            request = batch.request
            lines = [e.row_number for e in batch.entries if e.skip is None]  # by request index
            for index, record in list(zip(request.positions, request.records, strict=True)):
                match, error = self._match(record, by_org, by_number, by_vat)
                if match is not None and (line := self.owners.get(match[0], lines[index])) != lines[index]:
                    error = self._made_by(record, match, line)
                    match = None
                if error is not None:
                    request.reject(index, error)
                elif match is None:
                    if self.mode != "update":
                        continue
                    request.reject(index, self._no_match(record))
                else:
                    self._decide(request, index, record, match, updates, rechecks)
                batch.changed = True
        if dry_run:
            return []
        await update_many(conn, self.table, self.company_id, updates, now)
        return await recheck_vat(conn, self.company_id, rechecks, now)

    def _match(
        self,
        record: tuple[Any, ...],
        by_org: dict[str, tuple[Any, ...]],
        by_number: dict[str, list[tuple[Any, ...]]],
        by_vat: dict[str, list[tuple[Any, ...]]],
    ) -> tuple[tuple[Any, ...] | None, dict[str, Any] | None]:
        """The record a row matches, or the error of a row that matches two."""
        org, number, vat = record[self.org], record[self.number], record[self.vat]
        label, number_name = _LABEL[self.kind], _NUMBER[self.kind].replace("_", " ")
        numbered = by_number.get(number, []) if number is not None else []
        if org is not None and (match := by_org.get(org)) is not None:
            other = next((r for r in numbered if r[0] != match[0]), None)
            if other is None:
                return match, None
            message = (f"the row matches two {label}s: org number {org} is {label} {match[0]}, "
                       f"{number_name} {number} is {label} {other[0]}")  # fmt: skip
            return None, self._conflict(message, org_number=org, number=number)
        if numbered:
            if len(numbered) > 1:
                message = (f"the row matches two {label}s: {number_name} {number} is {label} {numbered[0][0]} and "
                           f"{label} {numbered[1][0]}")  # fmt: skip
                return None, self._conflict(message, number=number)
            match = numbered[0]
            if org is not None and match[self.org] is not None:  # (not this row's org number: see above)
                message = (f"{number_name} {number} is {label} {match[0]}, whose org number is "
                           f"{match[self.org]}, not {org}")  # fmt: skip
                return None, self._conflict(message, org_number=org, number=number)
            return match, None
        if vat is None:
            return None, None
        candidates = [r for r in by_vat.get(vat, []) if self._agrees(record, r)]
        if len(candidates) > 1:
            message = (f"the row matches two {label}s: VAT number {vat} is {label} {candidates[0][0]} and "
                       f"{label} {candidates[1][0]}")  # fmt: skip
            return None, self._conflict(message, vat_number=vat)
        return (candidates[0] if candidates else None), None

    def _agrees(self, record: tuple[Any, ...], found: tuple[Any, ...]) -> bool:
        """Whether a record found by VAT number has no other org number or own number than the row."""
        return all(record[i] is None or found[i] is None or record[i] == found[i] for i in (self.org, self.number))

    def _conflict(self, message: str, **fields: str) -> dict[str, Any]:
        named = {(_NUMBER[self.kind] if name == "number" else name): value for name, value in fields.items()}
        return _error("MATCH_CONFLICT", message, named)

    def _made_by(self, record: tuple[Any, ...], match: tuple[Any, ...], line: int) -> dict[str, Any]:
        """The error of a reimported row matching the record another line of the file made."""
        org, number = record[self.org], record[self.number]
        where = f"on line {line} of this file"
        if org is not None and org == match[self.org]:
            return duplicate_error(self.kind, org, where)
        label = _NUMBER[self.kind].replace("_", " ")
        if number is not None and number == match[self.number]:
            message = f"{label} {number} is on line {line} of this file already"
            return _error(DUPLICATE_NUMBER[self.kind], message, {_NUMBER[self.kind]: message})
        message = f"VAT number {record[self.vat]} is {_LABEL[self.kind]} {match[0]}, made from line {line} of this file"
        return _error("MATCH_CONFLICT", message, {"vat_number": record[self.vat]})

    def _no_match(self, record: tuple[Any, ...]) -> dict[str, Any]:
        given = [
            f"{name.replace('_', ' ')} {record[i]}"
            for name, i in (("org_number", self.org), (_NUMBER[self.kind], self.number), ("vat_number", self.vat))
            if record[i] is not None
        ]
        by = ", ".join(given) if given else "no org, own or VAT number to match by"
        message = f"matches no {_LABEL[self.kind]} ({by}); --mode update creates nothing"
        return _error("NO_MATCH", message, {})

    def _decide(
        self,
        request: Prepared,
        index: int,
        record: tuple[Any, ...],
        match: tuple[Any, ...],
        updates: list[tuple[str, dict[str, Any]]],
        rechecks: list[tuple[str, str | None, str]],
    ) -> None:
        entity = match[0]
        archived = match[self.archived] is not None
        label = _LABEL[self.kind]
        if self._values(record) == self._values(match):
            changed: dict[str, Any] = {}
        else:
            current = dict(zip(self.columns, match, strict=True))
            changed = changes(self.kind, current, dict(zip(self.columns, record, strict=True)))
        if not changed or self.mode == "create":
            why = "unchanged" if not changed else f"exists already as {label} {entity} (--mode create updates nothing)"
            if archived:
                why += f"; the {label} is archived and stays archived"
            request.settle(index, Settled("skipped", entity, message=why))
            return
        warnings = request.warnings.get(index, [])
        codes = [w.code for w in warnings]
        message = "; ".join(w.message for w in warnings) or None
        if archived:
            codes.append(STILL_ARCHIVED)
            message = "; ".join(filter(None, (message, f"the {label} is archived and stays archived")))
        field = ",".join(w.field for w in warnings) or None
        request.settle(index, Settled("updated", entity, ",".join(codes) or None, field, message))
        if with_vat_state(self.kind, dict(zip(self.columns, match, strict=True)), changed):
            rechecks.append((entity, changed.get("vat_number", match[self.vat]), changed["vat_check_status"]))
        updates.append((entity, changed))
