"""What a family of runs (a first run and its reimports) already did, so a reimport never creates a row twice.

Reimports keep the first run's row numbers, so a row number names the same source row across the family: a row
the family created or updated is matched to that record again (a corrected file or mapping repairs it), and
`--failed-only` skips it.
"""

import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.headers import HeaderMapping, build_mapping, row_payload
from jobs.ledger import run_rows, runs
from jobs.ledger.run_rows import Outcome
from registry.fields import Kind


@dataclass(frozen=True)
class Lineage:
    """What a run and its reimports already did, by row number (the same source row across the family)."""

    failed: set[int]  # rows that failed in the run being reimported
    made: dict[int, str]  # row number -> the record any run of the family created or updated from it
    failed_only: bool
    # Whether the rows the family made are matched to their records again (and updated where they changed):
    # not with --failed-only, and not in a reimport queued before imports matched rows (with no mode to match
    # by, it could only create them again).
    repairs: bool = False
    highest: int = 0  # the largest row number the family used: lines added to an edited file go above it
    # A fingerprint of the name each done row had (`name_print`); filled for reimports from a file, whose
    # rows are matched to the family's by row number alone.
    names: dict[int, int] = field(default_factory=dict)

    def skip_reason(self, row_number: int) -> str | None:
        if row_number in self.made and not self.repairs:
            return "already imported by an earlier run of this file"
        # A number past the family's rows is a line added to an edited report: a new row, never "not failed".
        if self.failed_only and row_number not in self.failed and row_number <= self.highest:
            return "did not fail in the run being reimported"
        return None

    def record_of(self, row_number: int) -> str | None:
        """The record the family made from this row, which the row is matched to."""
        return self.made.get(row_number) if self.repairs else None

    def mismatch(self, row_number: int, payload: Callable[[], Mapping[str, str]]) -> dict[str, Any] | None:
        """The error for a done row whose line now holds another record (the file is not a corrected copy of
        the family's file, or the line was replaced): skipping it would lose that record without a word, and
        updating its record with it would overwrite one record with another.
        `payload` maps the row, and is called only for a row whose name the family recorded."""
        expected = self.names.get(row_number)
        if expected is None:
            return None
        name = payload().get("name")
        if name is None or name_print(name) == expected:
            return None
        message = (
            f"an earlier run of this file imported another record from row {row_number}; this row was not "
            "imported (is this the file that run read? new records go in a new import)"
        )
        return {"code": "ROW_MISMATCH", "message": message, "fields": {"name": message}}


def name_print(name: str) -> int:
    """A name as compared across runs: case and spacing aside, in four bytes (a lineage holds one per row)."""
    return zlib.crc32(" ".join(name.casefold().split()).encode())


async def lineage(
    engine: AsyncEngine,
    parent_id: uuid.UUID,
    *,
    failed_only: bool,
    repairs: bool = False,
    names_of: Kind | None = None,
    leave_out: uuid.UUID | None = None,
) -> Lineage:
    """What the family of `parent_id` did, but for run `leave_out`; `names_of`: also fingerprint the names of
    its done rows of that kind (for a reimport from a file)."""
    files: dict[uuid.UUID, HeaderMapping] = {}
    async with engine.connect() as conn:
        members = [r for r in await runs.family(conn, parent_id) if r["id"] != leave_out]
        family = {r["id"] for r in members}
        failed = {o.row_number for o in await run_rows.outcomes(conn, [parent_id], failed_only=True)}
        highest = await run_rows.highest_row(conn, family)
        # A run that read a file (an API's records have no row numbers to confuse), with its rows as it mapped
        # them (its own --mapping), so a name is the name it imported.
        if names_of is not None:
            for run in (r for r in members if r["headers"]):
                files[run["id"]] = build_mapping(run["headers"], names_of, (run["options"] or {}).get("mapping"))
        outcomes = await run_rows.outcomes(conn, family - files.keys())
    found = Lineage(failed, _made(outcomes), failed_only, repairs, highest)
    for run_id, mapping in files.items():
        await _read_done_rows(engine, run_id, mapping, found)
    return found


_DONE = ("created", "updated")


def _made(outcomes: Iterable[Outcome]) -> dict[int, str]:
    return {o.row_number: o.entity_id for o in outcomes if o.status in _DONE and o.entity_id is not None}


async def _read_done_rows(engine: AsyncEngine, run_id: uuid.UUID, mapping: HeaderMapping, found: Lineage) -> None:
    """A file run's done rows and the fingerprints of their names, from one read of its rows."""
    async for batch in run_rows.rows(engine, run_id):
        found.made.update(_made(o for o, _ in batch))
        for outcome, raw in batch:
            if outcome.status in _DONE:
                name = row_payload(tuple(v or "" for v in raw), mapping).get("name") if isinstance(raw, list) else None
                if name is not None:
                    found.names[outcome.row_number] = name_print(name)


@dataclass(frozen=True)
class Owners:
    """What the rows of a family of runs did to records (`matching.Matcher.start`)."""

    lines: dict[str, int]  # record id -> the row that created, updated or matched it
    created: set[str]  # the records the family created


async def owners(engine: AsyncEngine, run_id: uuid.UUID) -> Owners:
    """What the rows of the family of `run_id` (itself included) did: a row of it matching a record that another
    row of the file made or matched fails as that row's duplicate, as in one run."""
    async with engine.connect() as conn:
        family = [r["id"] for r in await runs.family(conn, run_id)]
        found = await run_rows.outcomes(conn, family)
    lines = {o.entity_id: o.row_number for o in found if o.entity_id is not None and o.status != "failed"}
    return Owners(lines, {o.entity_id for o in found if o.entity_id is not None and o.status == "created"})
