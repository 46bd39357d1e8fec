"""Matching rows with no org, own or VAT number: by a fingerprint of their identifying fields.

Such a row (a person register's `Namn;E-post;Postnr;Ort`) has nothing else to be known by. The record it creates
is remembered by a 64-bit hash of its name, e-mail, postal code, city and country (case and spacing aside), for
its company, kind and source: "csv" for every CSV file and reimport, or the system of a saved API page. The next
import of that source matches a keyless row with the same fingerprint to that record; a record made any other
way (by a row with a key, by hand, by a sync) is never matched by one. Identical rows of one file are told apart
by their order: the second "Anna Svensson, 111 22 Stockholm" of a file is the second one of the next file too,
so neither is lost and no record is matched by both.
"""

import hashlib
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from registry.fields import Kind, own_number
from registry.ids import as_uuid
from registry.plan import COLUMNS
from registry.tables import match_prints

if TYPE_CHECKING:
    from jobs.pipeline.batches import Batch

FIELDS = ("name", "email", "postal_code", "city", "country")


def source_of(run: Mapping[Any, Any]) -> str:
    """The source a run's fingerprints belong to."""
    source = str(run["source"])
    return source if run["options"].get("format") == "json" or source.startswith("sync:") else "csv"


def _hashed(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


class Numbering:
    """Gives each keyless record of a file its fingerprint, in file order (the n-th repeat of identical fields
    gets a print of its own). Sees every batch in order, done ones (of a resumed run) too."""

    def __init__(self, kind: Kind) -> None:
        columns = COLUMNS[kind]
        self.keys = itemgetter(*(columns.index(c) for c in ("org_number", own_number(kind), "vat_number")))
        self.fields = itemgetter(*(columns.index(c) for c in FIELDS))
        self.seen: dict[int, int] = {}  # fingerprint of a first occurrence -> how many times it came

    def __call__(self, batch: "Batch") -> None:
        request = batch.request
        for index, record in zip(request.positions, request.records, strict=True):
            if self.keys(record) != (None, None, None):
                continue
            text = "\x1f".join(
                " ".join(str(v).casefold().split()) if v is not None else "" for v in self.fields(record)
            )
            first = _hashed(text)
            repeats = self.seen.get(first, 0)
            self.seen[first] = repeats + 1
            batch.prints[index] = first if not repeats else _hashed(f"{text}\x1f{repeats}")


async def find(
    conn: AsyncConnection, company_id: str, kind: Kind, source: str, prints: Sequence[int]
) -> dict[int, str]:
    """The records these fingerprints were remembered for (ids as text)."""
    c = match_prints.c
    query = select(c.fingerprint, c.entity_id).where(
        c.company_id == company_id, c.kind == kind, c.source == source, c.fingerprint.in_(prints)
    )
    return {p: str(e) for p, e in await conn.execute(query)}


async def remember(conn: AsyncConnection, company_id: str, kind: Kind, source: str, made: Mapping[int, str]) -> None:
    """Remember the records keyless rows create. A fingerprint whose record is gone (nothing matched it) is
    given to the new one."""
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(match_prints)
    upsert = insert.on_conflict_do_update(
        index_elements=[match_prints.c[k] for k in ("company_id", "kind", "source", "fingerprint")],
        set_={"entity_id": insert.excluded.entity_id},
    )
    rows = [
        {"company_id": company_id, "kind": kind, "source": source, "fingerprint": p, "entity_id": as_uuid(e)}
        for p, e in made.items()
    ]
    await conn.execute(upsert, rows)
