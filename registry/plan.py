"""A bulk-create request planned before the database is asked, and the database's answer to it.

`prepare` does everything that needs no database: validation, the request's fingerprint, the duplicate org
numbers within the request, and the rows to insert (in the table's column order, ids and timestamps set), so
the database sees one statement whatever the request's size. A `Result` says which rows went in; it renders the
API's bulk-create response only when asked (the importer reads each item's outcome directly), and what an
idempotency key stores is compact: the ids the rows were stored with. A replay (same key, same payload) plans
the request again, gets the same fingerprint and the same items, and renders the same response from them.
"""

import hashlib
import json
import marshal
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

from registry.errors import FieldWarning
from registry.fields import Kind, payload_fields
from registry.ids import new_ids
from registry.items import Rejected, Valid, duplicate_error, needs_vies, validate
from registry.tables import PARTY_TABLES

Payload = Mapping[str, Any] | Valid | Rejected  # a raw payload, or one validated already


class Settled(NamedTuple):
    """A valid item an importer matched to an existing record instead of creating it: what became of it."""

    status: str  # skipped | updated
    entity_id: str
    code: str | None = None  # a note (e.g. the record is archived), or the warnings' codes
    field: str | None = None  # the fields a warning names
    message: str | None = None


COLUMNS: dict[Kind, tuple[str, ...]] = {
    "customers": tuple(PARTY_TABLES["customers"].c.keys()),
    "suppliers": tuple(PARTY_TABLES["suppliers"].c.keys()),
}
_FIELDS = {kind: itemgetter(*payload_fields(kind)) for kind in COLUMNS}  # a valid item's values, in order
# A record is built from (id, company_id, created_at, vat_check_status, *the item's values, None, False) by
# picking each column's place there: two C-level steps per row instead of a dict per row.
_HEAD = ("id", "company_id", "created_at", "vat_check_status")
_TAIL = (None, False)


def _layout(kind: Kind) -> "itemgetter[tuple[Any, ...]]":
    fields = payload_fields(kind)
    at = {name: i for i, name in enumerate((*_HEAD, *fields))} | {"updated_at": 2}
    none, false = len(_HEAD) + len(fields), len(_HEAD) + len(fields) + 1
    return itemgetter(*(at.get(c, false if c == "vat_number_validated" else none) for c in COLUMNS[kind]))


_RECORD = {kind: _layout(kind) for kind in COLUMNS}
# A record's item values, in field order: what a record holds of its item.
_VALUES = {kind: itemgetter(*(COLUMNS[kind].index(f) for f in payload_fields(kind))) for kind in COLUMNS}
# One microsecond apart: the registry lists "created-first", and a request is created in its order.
_APART = [timedelta(microseconds=i) for i in range(100)]
# What a created item's data shows besides its id and name, and what a dry run's would-be record leaves out.
_NOT_SHOWN = frozenset({"id", "company_id", "created_at", "updated_at", "archived_at", "vat_checked_at"})
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def request_hash(checked: Sequence[dict[str, Any] | Valid | Rejected]) -> str:
    """Fingerprint of a request after validation: payloads that normalise alike are the same request."""
    # A valid item's values (str/int/bool/None) in their fixed field order, without the field names. marshal's
    # version 2 writes values only (no references, no interning), so equal values give equal bytes in any
    # process; it is frozen, and faster than repr or json on the import's hot path.
    return _digest([c if isinstance(c, Rejected) else tuple((c.values if isinstance(c, Valid) else c).values())
                    for c in checked])  # fmt: skip


def _digest(plain: Sequence[tuple[Any, ...] | Rejected]) -> str:
    items = [{"rejected": c.error} if isinstance(c, Rejected) else c for c in plain]
    return hashlib.sha256(marshal.dumps(items, 2)).hexdigest()


@dataclass(slots=True)
class Prepared:
    """A request validated and planned: what is known before the database is asked."""

    kind: Kind
    digest: str
    size: int  # items in the request
    records: list[tuple[Any, ...]]  # the rows to insert, in the table's column order
    positions: list[int]  # the request index of each record
    failed: dict[int, dict[str, Any]]  # request index -> error known already (invalid, or repeated in the request)
    warnings: dict[int, list[FieldWarning]]  # request index -> warnings of a valid item
    pending: list[int]  # request indices of customers whose VAT number VIES is to check
    # request index -> values (in field order) of a valid item that repeats an earlier item's org number: the
    # only values a request's records leave out (for `legacy_digest`, and for an importer naming the line)
    repeated: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    # request index -> a valid item matched to an existing record (an import's update or skip): not inserted
    settled: dict[int, Settled] = field(default_factory=dict)

    def matches(self, stored_digest: str, stored_response: Mapping[str, Any]) -> bool:
        """Whether a key stored with this fingerprint and response was stored for this request. A key stored
        before keys stored ids only (its response is the whole API response) has the fingerprint of that
        version, `legacy_digest`."""
        if stored_digest == self.digest:
            return True
        return "ids" not in stored_response and stored_digest == self.legacy_digest()

    def legacy_digest(self) -> str:
        """The fingerprint this request had before keys stored ids only: each valid item's values as a
        {field: value} dict in field order (its `db_values()`), each item failed before the request (invalid,
        or rejected by the caller) as {"rejected": error}."""
        names, values = payload_fields(self.kind), _VALUES[self.kind]
        records = dict(zip(self.positions, self.records, strict=True))
        items: list[dict[str, Any]] = []
        for index in range(self.size):
            if index in records:
                items.append(dict(zip(names, values(records[index]), strict=True)))
            elif index in self.repeated:
                items.append(dict(zip(names, self.repeated[index], strict=True)))
            elif index in self.settled:
                items.append({"settled": list(self.settled[index])})
            else:
                items.append({"rejected": self.failed[index]})
        return hashlib.sha256(marshal.dumps(items, 2)).hexdigest()

    def expected(self) -> str:
        """What the request's key stores when every record goes in."""
        return _to_json({"ids": [r[0] for r in self.records]})

    def copy(self) -> "Prepared":
        """A copy to change (`reject`, `settle`) without changing this one."""
        return Prepared(
            self.kind, self.digest, self.size, list(self.records), list(self.positions), dict(self.failed),
            dict(self.warnings), list(self.pending), dict(self.repeated), dict(self.settled),
        )  # fmt: skip

    def column(self, name: str) -> int:
        return COLUMNS[self.kind].index(name)

    def reject(self, index: int, error: dict[str, Any]) -> None:
        """Fail a valid item after all (its caller knows more than one request shows: a duplicate of an
        earlier request's item). The fingerprint changes with it, so the changed request is another request."""
        self._take(index, (index, error))
        self.failed[index] = error

    def settle(self, index: int, settled: Settled) -> None:
        """Leave a valid item out of the insert: it matched an existing record (updated or skipped instead).
        The fingerprint changes with it, as with `reject`."""
        self._take(index, (index, tuple(settled)))
        self.settled[index] = settled

    def _take(self, index: int, why: Any) -> None:
        k = self.positions.index(index)
        del self.records[k], self.positions[k]
        self.warnings.pop(index, None)
        if index in self.pending:
            self.pending.remove(index)
        self.digest = hashlib.sha256(self.digest.encode() + marshal.dumps(why, 2)).hexdigest()


def prepare(kind: Kind, company_id: str, items: Sequence[Payload], stamp: datetime) -> Prepared:
    checked = [i if isinstance(i, Valid | Rejected) else validate(kind, i) for i in items]
    fields, record = _FIELDS[kind], _RECORD[kind]
    # Each valid item's values in field order (a tuple): what the fingerprint covers, and what its row holds.
    plain: list[tuple[Any, ...] | Rejected] = [c if isinstance(c, Rejected) else fields(c.values) for c in checked]
    prepared = Prepared(kind, _digest(plain), len(checked), [], [], {}, {}, [])
    ids = iter(new_ids(len(checked)))
    first_index_of_org: dict[str, int] = {}
    for index, item in enumerate(checked):
        if isinstance(item, Rejected):
            prepared.failed[index] = item.error
            continue
        values = item.values
        org = values.get("org_number")
        if org is not None:
            if org in first_index_of_org:
                error = duplicate_error(kind, org, f"in this batch (item {first_index_of_org[org]})")
                prepared.failed[index] = error
                prepared.repeated[index] = fields(values)
                continue
            first_index_of_org[org] = index
        status = "not_applicable"
        if kind == "customers" and needs_vies(values):
            status = "pending"
            prepared.pending.append(index)
        values_in_order = plain[index]
        assert not isinstance(values_in_order, Rejected)
        prepared.records.append(
            record((next(ids), company_id, stamp + _APART[index], status, *values_in_order, *_TAIL))
        )
        prepared.positions.append(index)
        if item.warnings:
            prepared.warnings[index] = item.warnings
    return prepared


@dataclass(slots=True)
class Result:
    """What became of a prepared request: the id each record was stored with, and the records refused
    because their org number exists for the company already (by position in `prepared.records`)."""

    prepared: Prepared
    ids: list[str]
    duplicates: frozenset[int] = frozenset()
    dry_run: bool = False
    replayed: bool = False  # the key had stored this result already

    @classmethod
    def planned(cls, prepared: Prepared) -> "Result":
        """The result if every record goes in as planned."""
        return cls(prepared, [r[0] for r in prepared.records])

    @classmethod
    def inserted(cls, prepared: Prepared, inserted: set[str]) -> "Result":
        ids = [r[0] for r in prepared.records]
        if inserted.issuperset(ids):
            return cls(prepared, ids)
        return cls(prepared, ids, frozenset(k for k, i in enumerate(ids) if i not in inserted))

    @classmethod
    def from_stored(cls, prepared: Prepared, stored: Mapping[str, Any]) -> "Result":
        """The result a key stored, for the same request planned again."""
        if "ids" in stored:
            ids: list[str | None] = stored["ids"]
        else:  # a full response, as keys stored it before they stored ids only
            results = {r["request_index"]: r for r in stored["results"]}
            ids = [results[p]["data"]["id"] if results[p]["ok"] else None for p in prepared.positions]
        duplicates = frozenset(k for k, i in enumerate(ids) if i is None)
        return cls(prepared, [i or "" for i in ids], duplicates, replayed=True)

    @property
    def as_planned(self) -> bool:
        """Every record went in, now, with the id it was planned with."""
        return not (self.duplicates or self.dry_run or self.replayed)

    def stored(self) -> str:
        """What the key stores: each record's id, or null for a refused one."""
        return _to_json({"ids": [None if k in self.duplicates else i for k, i in enumerate(self.ids)]})

    def created(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """(request index, record) of every record that went in."""
        pairs = zip(self.prepared.positions, self.prepared.records, strict=True)
        if not self.duplicates:
            return pairs  # the usual request: no step in Python per record
        return (pair for k, pair in enumerate(pairs) if k not in self.duplicates)

    def vat_pending(self) -> list[dict[str, Any]]:
        """The created customers whose VAT number VIES is to check: their id and number."""
        p = self.prepared
        if not p.pending:
            return []
        number, status = p.column("vat_number"), p.column("vat_check_status")
        return [{"id": r[0], "vat_number": r[number], "vat_check_status": "pending"} for _, r in self.created()
                if r[status] == "pending"]  # fmt: skip

    def outcomes(self) -> list[tuple[dict[str, Any] | None, str | None, list[FieldWarning]]]:
        """Each item's (error, created id, warnings), in request order; a dry run creates no ids."""
        p = self.prepared
        out: list[tuple[dict[str, Any] | None, str | None, list[FieldWarning]]] = [(None, None, [])] * p.size
        for index, error in p.failed.items():
            out[index] = (error, None, [])
        org = p.column("org_number")
        for k, (index, record) in enumerate(zip(p.positions, p.records, strict=True)):
            if k in self.duplicates:
                out[index] = (duplicate_error(p.kind, record[org]), None, [])
            else:
                out[index] = (None, None if self.dry_run else self.ids[k], p.warnings.get(index, []))
        return out

    def response(self) -> dict[str, Any]:
        """The API's bulk-create response: each item's result in request order, and a summary."""
        p = self.prepared
        columns = COLUMNS[p.kind]
        records = dict(zip(p.positions, p.records, strict=True))
        results = []
        for index, (error, entity_id, warnings) in enumerate(self.outcomes()):
            if index in p.settled:
                results.append({"ok": True, "request_index": index, "data": {"id": p.settled[index].entity_id}})
                continue
            if error is not None:
                results.append({"ok": False, "request_index": index, "error": dict(error)})
                continue
            row = dict(zip(columns, records[index], strict=True))
            if self.dry_run:
                data = {k: v for k, v in row.items() if k not in _NOT_SHOWN}
            else:
                data = {"id": entity_id, "name": row["name"]}
                if row.get("vat_check_status") == "pending":
                    data.update(vat_number=row["vat_number"], vat_check_status="pending")
            if warnings:
                data["warnings"] = [{"field": w.field, "code": w.code, "message": w.message} for w in warnings]
            results.append({"ok": True, "request_index": index, "data": data})
        succeeded = sum(1 for r in results if r["ok"])
        return {"results": results, "summary": {"total": p.size, "succeeded": succeeded, "failed": p.size - succeeded}}
