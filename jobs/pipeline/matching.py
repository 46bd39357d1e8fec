"""Matching a file's rows to the records the company has already: `--mode upsert|create|update`.

A group of batches (the rows one transaction writes) is looked up in ONE query, by the org numbers, own numbers
(customer or supplier numbers) and VAT numbers of its valid records and the ids of the records they are known
to have made (a query before it finds those of keyless rows). Each record then matches, in this order:

1. the record with its org number;
2. else the record with its own number (customer_number / supplier_number);
3. else the record with its VAT number, unless that record has another org number or own number (a VAT number
   can be shared by a company's several accounts, so it only matches where nothing says otherwise);
4. a row with none of the three: the record a keyless row of the same source made, by its fingerprint
   (`jobs.pipeline.prints`).

A reimported row that an earlier run of its file made a record from (`lineage.Lineage.record_of`) matches that
record, whatever its keys say unless they name another one.

A row whose org number matches one record and whose own number another, a key that matches two records, or an
own number whose record has another org number, fails as MATCH_CONFLICT naming both. A matched row is compared
with its record PATCH style (a blank cell is not a value): unchanged → skipped; changed → updated (modes upsert
and update) or skipped (mode create). A row that matches nothing is created (modes upsert and create) or fails as
NO_MATCH (mode update). Rows the file repeats are the in-file rules' (`batches.FirstLines`), before this; a
line matching a record that an earlier line (of the file, or of its family's runs) made or matched fails naming
it, so that one record is written from one line, whichever keys the two matched it by.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from jobs.pipeline import prints
from jobs.pipeline.batches import DUPLICATE_NUMBER, Batch, Entry
from jobs.pipeline.lineage import Owners
from registry.bulk import store
from registry.clock import utc
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


Record = tuple[Any, ...]  # a registry record as the matching query returns it: the table's columns in order


@dataclass(frozen=True)
class Found:
    """The records a group's keys found, by each key."""

    by_id: dict[str, Record]
    by_org: dict[str, Record]
    by_number: dict[str, list[Record]]
    by_vat: dict[str, list[Record]]
    by_print: dict[int, str]  # a keyless row's fingerprint -> the id of the record it was remembered for


def _number(entity_id: str) -> int:
    return uuid.UUID(entity_id).int


def _error(code: str, message: str, fields: dict[str, str]) -> dict[str, Any]:
    return {"code": code, "message": message, "fields": fields}


class Matcher:
    """Decides, and writes, what becomes of a group's records that match existing ones."""

    def __init__(self, kind: Kind, company_id: str, mode: str, source: str) -> None:
        """`source`: what keyless rows' fingerprints are remembered under (`prints.source_of`)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        self.kind, self.company_id, self.mode, self.source = kind, company_id, mode, source
        self.table = PARTY_TABLES[kind]
        columns = COLUMNS[kind]
        self.columns = columns
        self.org, self.number, self.vat = (columns.index(c) for c in ("org_number", _NUMBER[kind], "vat_number"))
        self.archived = columns.index("archived_at")
        self.fields = payload_fields(kind)
        self._values = itemgetter(*(columns.index(f) for f in self.fields))
        # The line of the file (or of its family's runs) that made or matched each record: a later line matching
        # one fails, naming it, so one record is written from one line (`batches.FirstLines` does this for
        # repeated org and own numbers within the file, with no need to know the records).
        self.lines: dict[str, int] = {}
        # Records the file made: another line with one's VAT number "matches nothing" as it would have had the two
        # been written together (one VAT number, several accounts). This run's are told by their creation time,
        # not kept: a million-row file makes hundreds of thousands, which took the writing process over its
        # memory budget. (A record another import of the company makes meanwhile counts as this file's too: a
        # row with its VAT number is then created beside it, as it may be.) The family's earlier runs' are kept,
        # as the ids' 128-bit numbers.
        self.created: set[int] = set()
        self.since = datetime.max.replace(tzinfo=UTC)
        self._created_at = columns.index("created_at")
        # Groups are written by several connections at once, but decided in file order, so the line that keeps a
        # record is always the first (the batches done before a resume are decided already).
        self._turn = asyncio.Condition()
        self._decided: set[int] = set()
        self._done: set[int] = set()
        self._next = 0  # the first batch not decided yet

    def start(self, family: Owners, done: set[int], since: datetime) -> None:
        """What the file's family did before this run (`lineage.owners`), the batches done before (a resume),
        and when the run started: it made the records created since."""
        self.lines, self._done, self.since = family.lines, done, since
        self.created = {_number(entity) for entity in family.created}
        self._advance()

    def _advance(self) -> None:
        while self._next in self._decided or self._next in self._done:
            self._decided.discard(self._next)
            self._next += 1

    @asynccontextmanager
    async def _in_turn(self, group: Sequence[Batch]) -> AsyncIterator[None]:
        """Wait until every earlier batch is decided; then this group's are, also when deciding fails (a
        retried group is decided again, by the same lines, and the run's other groups must not wait for it)."""
        first = group[0].index
        async with self._turn:
            await self._turn.wait_for(lambda: self._next >= first)
        try:
            yield
        finally:
            async with self._turn:
                self._decided.update(b.index for b in group)
                self._advance()
                self._turn.notify_all()

    def keys(self, group: Sequence[Batch], printed: Iterable[str]) -> Keys:
        """The group's keys; `printed`: the ids its keyless rows' fingerprints were remembered for."""
        records = [r for b in group for r in b.request.records]
        org, number, vat = itemgetter(self.org), itemgetter(self.number), itemgetter(self.vat)
        made = [e.entity_id for b in group for e in b.entries if e.skip is None and e.entity_id is not None]
        return Keys(
            [v for v in map(org, records) if v is not None],
            [v for v in map(number, records) if v is not None],
            [v for v in map(vat, records) if v is not None],
            made + list(printed),
        )

    async def lookup(self, conn: AsyncConnection, group: Sequence[Batch], printed: Iterable[str]) -> list[Record]:
        """The company's records the group's records may match (all the table's columns, the id as text)."""
        keys = self.keys(group, printed)
        return await store(conn).matching(conn, self.table, self.company_id, keys) if keys else []

    async def settle(
        self, conn: AsyncConnection, group: Sequence[Batch], now: datetime, *, dry_run: bool
    ) -> list[dict[str, Any]]:
        """Match the group's records: the matched ones are left out of its requests (updated or skipped), the
        conflicting ones fail. Writes the updates (not in a dry run); returns the customers whose VAT number
        VIES is to check again."""
        fingerprints = [p for b in group for p in b.prints.values()]
        by_print = (
            await prints.find(conn, self.company_id, self.kind, self.source, fingerprints) if fingerprints else {}
        )
        found = await self.lookup(conn, group, by_print.values())
        async with self._in_turn(group):
            updates, rechecks = self._decide_all(group, found, by_print) if found or self.mode == "update" else ([], [])
        if dry_run:
            return []
        if fingerprints:
            await self._remember(conn, group)
        if not updates:
            return []  # the usual case of a new company's import: nothing matched, everything is created
        await update_many(conn, self.table, self.company_id, updates, now)
        return await recheck_vat(conn, self.company_id, rechecks, now)

    def _decide_all(
        self, group: Sequence[Batch], found: list[Record], by_print: dict[int, str]
    ) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, str | None, str]]]:
        """Settle or reject the group's matched records; returns the updates to write and the VAT numbers to
        check again."""
        index = self._index(found, by_print)
        updates: list[tuple[str, dict[str, Any]]] = []
        rechecks: list[tuple[str, str | None, str]] = []
        for batch in group:
            request = batch.request
            sent = [e for e in batch.entries if e.skip is None]  # by request index
            for i, record in list(zip(request.positions, request.records, strict=True)):
                match, error = self._row(record, sent[i], batch.prints.get(i), index)
                if error is not None:
                    request.reject(i, error)
                elif match is None:
                    if self.mode != "update":
                        continue
                    request.reject(i, self._no_match(record))
                else:
                    self._decide(request, i, record, match, updates, rechecks, own=match[0] == sent[i].entity_id)
                batch.changed = True
        return updates, rechecks

    def _made_by_file(self, record: Record) -> bool:
        """Whether the file (this run, or its family's earlier ones) made this record."""
        return utc(record[self._created_at]) >= self.since or bool(self.created and _number(record[0]) in self.created)

    async def _remember(self, conn: AsyncConnection, group: Sequence[Batch]) -> None:
        """The fingerprints of the keyless records the group creates, with the ids they are planned with."""
        made: dict[int, str] = {}
        for batch in group:
            if batch.prints:
                planned = dict(zip(batch.request.positions, (r[0] for r in batch.request.records), strict=True))
                made.update((p, planned[i]) for i, p in batch.prints.items() if i in planned)
        if made:
            await prints.remember(conn, self.company_id, self.kind, self.source, made)

    def _index(self, found: list[Record], by_print: dict[int, str]) -> Found:
        by_org = {r[self.org]: r for r in found if r[self.org] is not None}
        index = Found({r[0]: r for r in found}, by_org, {}, {}, by_print)
        for r in found:
            if r[self.number] is not None:
                index.by_number.setdefault(r[self.number], []).append(r)
            if r[self.vat] is not None:
                index.by_vat.setdefault(r[self.vat], []).append(r)
        return index

    def _row(
        self, record: Record, entry: Entry, fingerprint: int | None, found: Found
    ) -> tuple[Record | None, dict[str, Any] | None]:
        """The record a row matches, or the error of a row that matches two, or a record another line made."""
        line = entry.row_number
        match, error = self._match(record, found)
        made = found.by_id.get(entry.entity_id) if entry.entity_id is not None else None
        if made is not None:
            match, error = self._made_here(record, made, line, (match, error))
        elif fingerprint is not None and (printed := found.by_print.get(fingerprint)) is not None:
            match = found.by_id.get(printed)  # a keyless row, which no key can match
        if match is not None and (owner := self.lines.setdefault(match[0], line)) != line:
            return None, self._taken_by(record, match, owner)
        return match, error

    def _match(self, record: Record, found: Found) -> tuple[Record | None, dict[str, Any] | None]:
        """The record a row's keys match, or the error of a row that matches two."""
        org, number, vat = record[self.org], record[self.number], record[self.vat]
        label, number_name = _LABEL[self.kind], _NUMBER[self.kind].replace("_", " ")
        numbered = found.by_number.get(number, []) if number is not None else []
        if org is not None and (match := found.by_org.get(org)) is not None:
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
        candidates = [r for r in found.by_vat.get(vat, []) if not self._made_by_file(r) and self._agrees(record, r)]
        if len(candidates) > 1:
            message = (f"the row matches two {label}s: VAT number {vat} is {label} {candidates[0][0]} and "
                       f"{label} {candidates[1][0]}")  # fmt: skip
            return None, self._conflict(message, vat_number=vat)
        return (candidates[0] if candidates else None), None

    def _made_here(
        self,
        record: Record,
        made: Record,
        line: int,
        found: tuple[Record | None, dict[str, Any] | None],
    ) -> tuple[Record | None, dict[str, Any] | None]:
        """A reimported row is the record its line made in an earlier run of the family; its keys may name no
        other (say, a corrected org number that another record has already)."""
        match, error = found
        if error is not None:
            return None, error
        if match is None or match[0] == made[0]:
            return made, None
        name, i = next(
            (name, i)
            for name, i in (("org_number", self.org), ("number", self.number), ("vat_number", self.vat))
            if record[i] is not None and record[i] == match[i]
        )
        label, key = _LABEL[self.kind], (_NUMBER[self.kind] if name == "number" else name).replace("_", " ")
        message = (f"the row matches two {label}s: line {line} made {label} {made[0]} in an earlier run of this "
                   f"file, and {key} {record[i]} is {label} {match[0]}")  # fmt: skip
        return None, self._conflict(message, **{name: record[i]})

    def _agrees(self, record: Record, found: Record) -> bool:
        """Whether a record found by VAT number has no other org number or own number than the row."""
        return all(record[i] is None or found[i] is None or record[i] == found[i] for i in (self.org, self.number))

    def _conflict(self, message: str, **fields: str) -> dict[str, Any]:
        named = {(_NUMBER[self.kind] if name == "number" else name): value for name, value in fields.items()}
        return _error("MATCH_CONFLICT", message, named)

    def _taken_by(self, record: Record, match: Record, line: int) -> dict[str, Any]:
        """The error of a row matching the record another line of the file (or its family) made or matched."""
        org, number = record[self.org], record[self.number]
        where = f"on line {line} of this file"
        if org is not None and org == match[self.org]:
            return duplicate_error(self.kind, org, where)
        label = _NUMBER[self.kind].replace("_", " ")
        if number is not None and number == match[self.number]:
            message = f"{label} {number} is on line {line} of this file already"
            return _error(DUPLICATE_NUMBER[self.kind], message, {_NUMBER[self.kind]: message})
        vat, label = record[self.vat], _LABEL[self.kind]
        if vat is None:  # matched by its fingerprint
            message = (f"the same name, e-mail, postal code, city and country as line {line} of this file, which "
                       f"is {label} {match[0]} already")  # fmt: skip
            return _error("MATCH_CONFLICT", message, {})
        message = f"VAT number {vat} is {label} {match[0]}, which line {line} of this file is already"
        return _error("MATCH_CONFLICT", message, {"vat_number": vat})

    def _no_match(self, record: Record) -> dict[str, Any]:
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
        record: Record,
        match: Record,
        updates: list[tuple[str, dict[str, Any]]],
        rechecks: list[tuple[str, str | None, str]],
        *,
        own: bool,
    ) -> None:
        """`own`: the record is the one the row's line made in an earlier run of the family, which the row
        repairs whatever the mode (--mode create keeps its hands off records from elsewhere)."""
        entity = match[0]
        archived = match[self.archived] is not None
        label = _LABEL[self.kind]
        if self._values(record) == self._values(match):
            changed: dict[str, Any] = {}
        else:
            current = dict(zip(self.columns, match, strict=True))
            changed = changes(self.kind, current, dict(zip(self.columns, record, strict=True)))
        if not changed or (self.mode == "create" and not own):
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
