"""A connected system's records matched by their ids there: a CRM sync's step before the usual match keys.

`external_refs` maps each record a connection has read to the registry record it made or was linked to, with a
hash of what it mapped to. A group of batches (one transaction) looks up its records' refs in one query; then
each valid record is
- known, with the same hash: skipped, unchanged since the last sync;
- known, with another hash: updated to what the source says now (the source owns the record, so a value it no
  longer has is cleared), archived or un-archived as the source says. A ref whose registry record was deleted
  meanwhile is dropped, and the record made again;
- unknown: matched by the usual keys (`jobs.pipeline.matching`: org number, own number, VAT number) and linked,
  code LINKED, PATCH style (the registry's record came from elsewhere, so a blank never clears it); a registry
  record already linked to another record of the connection is not linked twice (the row fails);
- else created, archived at once when the source has it archived.
The refs of what was created, updated and linked are written in the transaction that wrote the records.
"""

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, Text, Uuid, bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from jobs.ledger.run_rows import ARCHIVED, Outcome
from jobs.pipeline.batches import Batch, Entry
from jobs.pipeline.inputs import Ref
from jobs.pipeline.matching import Found, Matcher, Record
from registry.bulk import store
from registry.fields import Kind, payload_fields
from registry.ids import as_uuid
from registry.items import duplicate_error
from registry.patch import recheck_vat, vat_status
from registry.plan import COLUMNS, Result, Settled
from registry.tables import PARTY_TABLES, external_refs

LINKED = "LINKED"
UNARCHIVED = "UNARCHIVED"
UNCHANGED = "unchanged since the last sync"
_VAT_STATE = ("vat_number_validated", "vat_check_status")


def record_hash(values: Mapping[str, Any], archived: bool) -> str:
    """What a ref remembers of a record: the values it mapped to, and whether it was archived. (Refs stored
    already hold it: a change of form would make every record of every connection look changed once.)"""
    return hashlib.sha256(repr((sorted(values.items()), archived)).encode()).hexdigest()


class _Hasher:
    """`record_hash` of a record (a table row), without making a dict of it and sorting that for each."""

    def __init__(self, kind: Kind) -> None:
        columns, names = COLUMNS[kind], sorted(payload_fields(kind))
        self.names = names
        self.values = itemgetter(*(columns.index(f) for f in names))

    def __call__(self, record: tuple[Any, ...], archived: bool) -> str:
        pairs = list(zip(self.names, self.values(record), strict=True))
        return hashlib.sha256(repr((pairs, archived)).encode()).hexdigest()


class _Linking(Matcher):
    """The usual match keys, for records the connection has no ref for yet."""

    def __init__(self, kind: Kind, company_id: str, connection_id: uuid.UUID, source: str) -> None:
        super().__init__(kind, company_id, "upsert", source)
        self.connection_id = connection_id
        # Registry records linked to one of the connection's records. It only grows (a link is never undone
        # during a sync), so the writers of one run can share it.
        self.linked: set[str] = set()

    async def lookup(self, conn: AsyncConnection, group: Sequence[Batch], printed: Iterable[str]) -> list[Record]:
        found = await super().lookup(conn, group, printed)
        if found:
            entities = [as_uuid(r[0]) for r in found]
            if conn.dialect.name == "postgresql":
                params = {"entities": entities, "connection": self.connection_id, "kind": self.kind}
                linked = (await conn.execute(_LINKED_PG, params)).scalars()
            else:
                refs = external_refs.c
                query = select(refs.entity_id).where(
                    refs.connection_id == self.connection_id, refs.kind == self.kind, refs.entity_id.in_(entities)
                )
                linked = (await conn.execute(query)).scalars()
            self.linked.update(map(str, linked))
        return found

    def _match(self, record: Record, found: Found) -> tuple[Record | None, dict[str, Any] | None]:
        match, error = super()._match(record, found)
        if match is None or match[0] not in self.linked:
            return match, error
        where = "for another record of this system"
        org = record[self.org]
        if org is not None and org == match[self.org]:
            return None, duplicate_error(self.kind, org, where)
        message = f"{self.kind[:-1]} {match[0]} is linked to another record of this system already"
        return None, {"code": "MATCH_CONFLICT", "message": message, "fields": {}}


@dataclass
class _Candidate:
    """A valid record of the group, and what it is settled with."""

    batch: Batch
    index: int  # in the batch's request
    ref: Ref
    digest: str
    entity_id: str | None = None  # the registry record it is settled with (updated, skipped or linked)


@dataclass
class Matched:
    """A group's records after matching: what their refs become once the group's requests are written."""

    refs: "Refs"
    candidates: dict[tuple[int, int], _Candidate]  # by (batch index, request index)
    rechecks: list[dict[str, Any]] = field(default_factory=list)  # customers VIES is to check again
    written: list[_Candidate] = field(default_factory=list)  # updated and linked: their refs are (re)written
    replaced: list[str] = field(default_factory=list)  # external ids whose refs are written again

    async def store(
        self, conn: AsyncConnection, group: Sequence[Batch], results: Sequence[Result], now: datetime
    ) -> None:
        """Write the refs of the records created, updated and linked."""
        done = list(self.written)
        for batch, result in zip(group, results, strict=True):
            for index, record in result.created():
                candidate = self.candidates[batch.index, index]
                candidate.entity_id = str(record[0])
                done.append(candidate)
        await self.refs.write(conn, done, self.replaced, now)


class Refs:
    """The ref step of one connection's sync of one kind."""

    def __init__(self, kind: Kind, company_id: str, connection_id: uuid.UUID | str, source: str) -> None:
        self.kind, self.company_id = kind, company_id
        self.connection_id = as_uuid(connection_id)
        self.table = PARTY_TABLES[kind]
        self.matcher = _Linking(kind, company_id, self.connection_id, source)
        columns = COLUMNS[kind]
        self.fields = payload_fields(kind)
        self._values = itemgetter(*(columns.index(f) for f in self.fields))
        self._archived_at = columns.index("archived_at")
        self._hash = _Hasher(kind)
        # Whether the connection had refs of this kind when the run began. A read holds each record once, so
        # only those can be a record's: without any, a first sync asks for none.
        self._had_refs: bool | None = None

    async def settle(self, conn: AsyncConnection, group: Sequence[Batch], now: datetime) -> Matched:
        """Match the group's records by ref, then by the usual keys; write the updates and the archive flags.
        The matched records are left out of the group's requests, as `Matcher.settle` leaves them."""
        candidates = self._candidates(group)
        matched = Matched(self, {(c.batch.index, c.index): c for c in candidates})
        if self._had_refs is None:
            self._had_refs = await self._any_ref(conn)
        known = await self._known(conn, [c.ref.external_id for c in candidates]) if self._had_refs else {}
        changed: list[_Candidate] = []
        for c in candidates:
            if (ref := known.get(c.ref.external_id)) is None:
                continue
            c.entity_id = ref[0]
            if ref[1] == c.digest:
                c.batch.request.settle(c.index, Settled("skipped", ref[0], message=UNCHANGED))
                c.batch.changed = True
            else:
                changed.append(c)
        if changed:
            await self._update(conn, changed, now, matched)
        self._archive_new(group, now)
        ours = {key for key, c in matched.candidates.items() if c.entity_id is not None}
        matched.rechecks.extend(await self.matcher.settle(conn, group, now, dry_run=False))
        await self._link(conn, group, ours, matched, now)
        return matched

    def _candidates(self, group: Sequence[Batch]) -> list[_Candidate]:
        out = []
        for batch in group:
            request = batch.request
            items = [e for e in batch.entries if e.skip is None]  # by request index
            for index, record in zip(request.positions, request.records, strict=True):
                ref = items[index].ref
                assert ref is not None, "a sync's items carry their refs"
                out.append(_Candidate(batch, index, ref, self._hash(record, ref.archived)))
                if ref.archived:
                    batch.changed = True  # its created rows are noted as archived (`noted`)
        return out

    async def _any_ref(self, conn: AsyncConnection) -> bool:
        refs = external_refs.c
        query = select(refs.external_id).where(refs.connection_id == self.connection_id, refs.kind == self.kind)
        return (await conn.execute(query.limit(1))).first() is not None

    async def _known(self, conn: AsyncConnection, external_ids: list[str]) -> dict[str, tuple[str, str]]:
        """external id -> (registry id, record hash) of the refs the connection has of these records."""
        if not external_ids:
            return {}
        if conn.dialect.name == "postgresql":
            params = {"ids": external_ids, "connection": self.connection_id, "kind": self.kind}
            found = await conn.execute(_KNOWN_PG, params)
        else:
            refs = external_refs.c
            found = await conn.execute(
                select(refs.external_id, refs.entity_id, refs.record_hash).where(
                    refs.connection_id == self.connection_id, refs.kind == self.kind, refs.external_id.in_(external_ids)
                )
            )
        return {external: (str(entity), digest) for external, entity, digest in found}

    async def _update(self, conn: AsyncConnection, changed: list[_Candidate], now: datetime, matched: Matched) -> None:
        """Bring the registry records of changed source records up to date."""
        table = self.table
        ids = [as_uuid(c.entity_id) for c in changed]
        query = select(table).where(table.c.id.in_(ids), table.c.company_id == self.company_id)
        current = {str(r["id"]): r for r in (await conn.execute(query)).mappings()}
        stale = [c for c in changed if c.entity_id not in current]
        for c in stale:  # deleted from the registry meanwhile: created again
            c.entity_id = None
        await self._forget(conn, [c.ref.external_id for c in stale])
        live = [(c, c.entity_id) for c in changed if c.entity_id is not None]
        taken = await self._org_holders(conn, live, current)
        rows: list[dict[str, Any]] = []
        checks: list[tuple[str | uuid.UUID, str | None, str]] = []
        for c, entity in live:
            request = c.batch.request
            record = request.records[request.positions.index(c.index)]
            values = dict(zip(self.fields, self._values(record), strict=True))
            now_row = current[entity]
            org = values["org_number"]
            if org is not None and taken.get(org, entity) != entity:
                request.reject(c.index, duplicate_error(self.kind, org, "for this company"))
                c.entity_id = None
                c.batch.changed = True
                continue
            code, archived_at = None, now_row["archived_at"]
            if c.ref.archived and archived_at is None:
                code, archived_at = ARCHIVED, now
            elif not c.ref.archived and archived_at is not None:
                code, archived_at = UNARCHIVED, None
            values["archived_at"] = archived_at
            if self.kind == "customers":
                values.update((name, now_row[name]) for name in _VAT_STATE)
                if values["vat_number"] != now_row["vat_number"]:
                    values.update(vat_number_validated=False, vat_check_status=vat_status(values))
                    checks.append((entity, values["vat_number"], values["vat_check_status"]))
            rows.append({"v_id": as_uuid(entity), "v_company": self.company_id, "v_updated_at": now,
                         **{f"v_{name}": value for name, value in values.items()}})  # fmt: skip
            request.settle(c.index, Settled("updated", entity, code))
            c.batch.changed = True
            matched.written.append(c)
            matched.replaced.append(c.ref.external_id)
        if rows:
            await conn.execute(_overwrite(self.table, tuple(name[2:] for name in rows[0] if name not in _KEYS)), rows)
        matched.rechecks.extend(await recheck_vat(conn, self.company_id, checks, now))

    async def _org_holders(
        self, conn: AsyncConnection, live: list[tuple[_Candidate, str]], current: Mapping[str, Any]
    ) -> dict[str, str]:
        """The registry records holding the org numbers the updates give records that had another."""
        org = self.fields.index("org_number")
        wanted = set()
        for c, entity in live:
            request = c.batch.request
            value = self._values(request.records[request.positions.index(c.index)])[org]
            if value is not None and value != current[entity]["org_number"]:
                wanted.add(value)
        if not wanted:
            return {}
        table = self.table
        query = select(table.c.org_number, table.c.id).where(
            table.c.company_id == self.company_id, table.c.org_number.in_(wanted)
        )
        return {number: str(entity) for number, entity in await conn.execute(query)}

    def _archive_new(self, group: Sequence[Batch], now: datetime) -> None:
        """The records still to create that the source has archived go in archived."""
        at = self._archived_at
        for batch in group:
            request = batch.request
            items = [e for e in batch.entries if e.skip is None]
            for k, index in enumerate(request.positions):
                ref = items[index].ref
                if ref is not None and ref.archived:
                    record = request.records[k]
                    request.records[k] = (*record[:at], now, *record[at + 1 :])

    async def _link(
        self, conn: AsyncConnection, group: Sequence[Batch], ours: set[tuple[int, int]], matched: Matched, now: datetime
    ) -> None:
        """Note the records the usual keys matched as linked, and archive or un-archive them as the source says."""
        archive: list[uuid.UUID] = []
        unarchive: list[uuid.UUID] = []
        for batch in group:
            request = batch.request
            for index, settled in list(request.settled.items()):
                if (batch.index, index) in ours:
                    continue
                candidate = matched.candidates[batch.index, index]
                candidate.entity_id = settled.entity_id
                request.settled[index] = settled._replace(code=LINKED)
                matched.written.append(candidate)
                (archive if candidate.ref.archived else unarchive).append(as_uuid(settled.entity_id))
        table = self.table
        if archive:
            await conn.execute(
                update(table).where(table.c.id.in_(archive), table.c.archived_at.is_(None)).values(archived_at=now)
            )
        if unarchive:
            back = update(table).where(table.c.id.in_(unarchive), table.c.archived_at.is_not(None))
            await conn.execute(back.values(archived_at=None))

    async def _forget(self, conn: AsyncConnection, external_ids: list[str]) -> None:
        if external_ids:
            refs = external_refs.c
            await conn.execute(
                delete(external_refs).where(
                    refs.connection_id == self.connection_id, refs.kind == self.kind, refs.external_id.in_(external_ids)
                )
            )

    async def write(self, conn: AsyncConnection, done: list[_Candidate], replaced: list[str], now: datetime) -> None:
        await self._forget(conn, replaced)
        if done:
            rows = [
                {"connection_id": str(self.connection_id), "kind": self.kind, "external_id": c.ref.external_id,
                 "entity_id": c.entity_id, "record_hash": c.digest, "updated_at": now}
                for c in done
            ]  # fmt: skip
            await store(conn).append(conn, external_refs, rows)


def noted(entries: Sequence[Entry], outcomes: list[Outcome]) -> list[Outcome]:
    """A sync's row outcomes: a record created archived (the source has it so) says ARCHIVED."""
    return [
        o._replace(error_code=ARCHIVED) if o.status == "created" and e.ref is not None and e.ref.archived else o
        for e, o in zip(entries, outcomes, strict=True)
    ]


# Postgres: a probe of the index for each id, whatever the statistics say. A sync grows external_refs from empty
# within one connection's life: planned from the statistics of then (none), or generically once the statement
# is cached, a plain `IN` / `= ANY` reads every ref of the connection and filters, for each group.
_KNOWN_PG = text(
    "SELECT e.id, r.entity_id, r.record_hash FROM unnest(:ids) AS e(id), LATERAL (SELECT entity_id, record_hash "
    "FROM external_refs WHERE connection_id = :connection AND kind = :kind AND external_id = e.id LIMIT 1) AS r"
).bindparams(bindparam("ids", type_=ARRAY(Text)), bindparam("connection", type_=Uuid))
# (OFFSET 0 keeps the connection and kind out of the probe: by entity id, not by the refs of the connection.)
_LINKED_PG = text(
    "SELECT e.id FROM unnest(:entities) AS e(id), LATERAL (SELECT connection_id, kind FROM external_refs "
    "WHERE entity_id = e.id OFFSET 0) AS r WHERE r.connection_id = :connection AND r.kind = :kind"
).bindparams(bindparam("entities", type_=ARRAY(Uuid)), bindparam("connection", type_=Uuid))

_KEYS = ("v_id", "v_company", "v_updated_at")


@cache
def _overwrite(table: Table, columns: tuple[str, ...]) -> Any:
    values: dict[str, Any] = {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in columns}
    values["updated_at"] = bindparam("v_updated_at", type_=table.c.updated_at.type)
    where = (table.c.id == bindparam("v_id", type_=table.c.id.type), table.c.company_id == bindparam("v_company"))
    return update(table).where(*where).values(values)
