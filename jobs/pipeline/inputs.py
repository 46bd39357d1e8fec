"""Where a run's rows come from: a CSV file, a saved API page, or a parent run (reimport).

Every input yields `Item`s in a fixed order, so a resumed run rebuilds exactly the same batches. An input is
described completely by the run's `options`, so a worker on another machine can open it again.
"""

import json
import os
import stat
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.csv_source import EIGHT_BIT_ENCODINGS, CsvSource, SourceError, unescape_cell
from connectors.headers import HeaderMapping, MappingFileError, build_mapping, load_mapping_file, row_payload
from jobs.errors import RunError
from jobs.ledger import run_rows
from jobs.pipeline.lineage import Lineage
from jobs.pipeline.snapshot import Snapshot
from registry.fields import Kind, payload_fields
from registry.ids import as_uuid
from registry.items import Rejected, unstorable, validate
from registry.models import CleanPayload


class Ref(NamedTuple):
    """The connected system's record behind an item (a sync's): its id there, and whether it is archived there."""

    external_id: str
    archived: bool


class Item(NamedTuple):
    """One source row: where a person finds it, what it said, and what it maps to. (A named tuple: one is made
    for every row read, and a frozen dataclass is much slower to make.)"""

    row_number: int
    raw: Sequence[str | None] | dict[str, Any]  # the source row's cells (or an API's record) as they were
    payload: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # known to fail before validation (e.g. a malformed line)
    skip: str | None = None  # reason it is not imported (e.g. created by an earlier run)
    entity_id: str | None = None
    ref: Ref | None = None


class Interrupted(SourceError):
    """An input's read stopped part way (e.g. a connected system gave up answering): what was read before it is
    written, then the run ends failed with this reason."""


Wanted = Callable[[int], bool]  # which positions of an input a reader takes
SLOT_ROWS = 400  # items a reading process takes at a time


class Input(Protocol):
    @property
    def headers(self) -> Sequence[str] | None: ...
    @property
    def total(self) -> int: ...
    @property
    def warnings(self) -> list[str]: ...

    def items(self) -> AsyncIterator[Item]: ...


@runtime_checkable
class LocalInput(Input, Protocol):
    """An input read without I/O of the event loop (a file): it can be read in child processes."""

    def iter_items(self, wanted: Wanted | None = None, *, slot: int | None = None) -> Iterator[Item | None]:
        """The items in order; where `wanted(position)` is false, None instead (cheaply: not mapped). With
        `slot`, only the items at positions SLOT_ROWS·slot to SLOT_ROWS·(slot+1)-1 (see `slots`)."""
        ...

    def slots(self) -> int | None:
        """How many slots of SLOT_ROWS items the input has, when one can be read without reading the items
        before it; else None."""
        ...


_NOT_REGULAR = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket"}


def regular_file(path: str, what: str = "the file") -> str:
    """The absolute path of the regular file `path` names (through its symlinks). Anything else is refused
    before it is opened: opening a named pipe waits for a writer, forever."""
    try:
        kind = stat.S_IFMT(os.stat(path).st_mode)  # follows symlinks: a loop is ELOOP here
    except OSError as exc:
        raise SourceError(path, f"cannot read {what}: {exc.strerror}") from None
    if kind != stat.S_IFREG:
        raise SourceError(path, f"not a regular file ({_NOT_REGULAR.get(kind, 'a device')})")
    return str(Path(path).resolve())


def mapping_overrides(path: str | None) -> dict[str, str | None] | None:
    if path is None:
        return None
    regular_file(path, "the mapping file")
    try:
        overrides: dict[str, str | None] = load_mapping_file(path)
    except MappingFileError as exc:
        raise SourceError(path, exc.reason) from None
    return overrides


def checked_mapping(
    path: str,
    headers: Sequence[str],
    kind: Kind,
    overrides: Mapping[str, str | None] | None,
    learned: Mapping[str, str | None] | None = None,
) -> Any:
    try:
        mapping = build_mapping(headers, kind, overrides, learned)
    except ValueError as exc:
        raise SourceError(path, str(exc)) from None
    missing = mapping.missing_required()
    if missing:
        raise SourceError(
            path,
            f"missing required column(s) for {', '.join(missing)}; found: {', '.join(headers)}",
            line=1,
        )
    return mapping


def checked_defaults(kind: Kind, given: Mapping[str, str] | None) -> dict[str, str]:
    """Values for fields a file lacks, given for every row that has none of its own (`--set FIELD=VALUE`),
    cleaned as a cell is; a name that is not one of the kind's fields, or a blank value, is refused."""
    fields = payload_fields(kind)
    defaults = {}
    for name, value in (given or {}).items():
        if name not in fields:
            raise RunError(f"cannot set {name!r} for every row: not a field of {kind} (fields: {', '.join(fields)})")
        if not value.strip():
            raise RunError(f"cannot set {name!r} for every row to a blank value")
        defaults[name] = value.strip()
    return defaults


def with_defaults(payload: CleanPayload, defaults: Mapping[str, str]) -> CleanPayload:
    """The row's own values over the defaults; an empty row stays empty (and is skipped as one)."""
    return CleanPayload({**defaults, **payload}) if payload and defaults else payload


_SAMPLE_ROWS = 500  # enough to tell a field every row lacks, cheap beside reading the whole file


def refuse_a_field_every_row_lacks(inp: "CsvInput", kind: Kind, name: str) -> None:
    """Stop before writing when the first rows all fail for want of the same field: a column the file lacks (no
    country, no customer type), which one `--set` would give every row, not something to learn row by row."""
    common: set[str] | None = None
    sampled = 0
    reasons: dict[str, str] = {}
    for item in inp.iter_items():
        if item is None or item.payload is None:
            continue
        checked = validate(kind, item.payload)
        if not isinstance(checked, Rejected):
            return
        # Failed for want of a value: a bad value of its own is the row's problem, not a column the file lacks.
        lacking = {field for field in checked.error.get("fields", {}) if field not in item.payload}
        reasons.update((field, checked.error["fields"][field]) for field in lacking)
        common = lacking if common is None else common & lacking
        sampled += 1
        if not common or sampled == _SAMPLE_ROWS:
            break
    if not common or sampled == 0:
        return
    field = min(common, key=payload_fields(kind).index)
    which = "every row" if sampled < _SAMPLE_ROWS else f"each of the first {sampled:,} rows"
    fix = f"--set {field}=VALUE"
    if field in ("customer_type", "supplier_type"):
        fix = f"--set country=SE (or {fix})"
    raise SourceError(name, f"{which} lacks {field} ({reasons[field]}): give it for every row with {fix}")


class _FileItems:
    """`items()` for inputs read without I/O of the event loop: the same items as `iter_items()`."""

    def iter_items(self, wanted: Wanted | None = None, *, slot: int | None = None) -> Iterator[Item | None]:
        raise NotImplementedError

    def slots(self) -> int | None:
        return None

    async def items(self) -> AsyncIterator[Item]:
        for item in self.iter_items():
            assert item is not None
            yield item


class CsvInput(_FileItems):
    """A CSV file: an accountant's export, a system's export, or an edited error report of an earlier run."""

    def __init__(
        self,
        file: Snapshot,
        kind: Kind,
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        overrides: Mapping[str, str | None] | None = None,
        total: int | None = None,
        lineage: Lineage | None = None,
        defaults: Mapping[str, str] | None = None,
    ) -> None:
        """`lineage` is given for a reimport: it says which rows are already done. `defaults`: values (checked
        by `checked_defaults`) for fields a row has no value of its own for."""
        self.file = file  # the input is read from this copy, which lives as long as the input
        self.defaults = defaults or {}
        self._encoding_given = encoding is not None
        try:
            self.source = CsvSource(file.path, encoding=encoding, delimiter=delimiter, name=file.name)
        except OSError as exc:
            raise SourceError(file.name, f"cannot read the file: {exc.strerror}") from None
        self.kind = kind
        self.remap(overrides)
        self.total = self.source.check(SLOT_ROWS) if total is None else total
        self.lineage = lineage

    def remap(
        self, overrides: Mapping[str, str | None] | None, learned: Mapping[str, str | None] | None = None
    ) -> None:
        """Map the headers (again): `learned`, the mapping remembered for this layout, is known only once the
        headers have been read."""
        self.mapping: HeaderMapping = checked_mapping(
            self.file.name, self.source.headers, self.kind, overrides, learned
        )
        # An edited error report carries our own columns; they steer a reimport but are not source data.
        report = self.mapping.report_columns
        self._keep = [i for i, h in enumerate(self.source.headers) if h not in report]
        # A report's cells are the source's cells with a spreadsheet escape added (`escape_cell`); taken
        # back without it, so the reimport stores what the source said and its own report escapes it once.
        self._report = len(self._keep) != len(self.source.headers)
        self.headers = [unescape_cell(h) if self._report else h for h in (self.source.headers[i] for i in self._keep)]
        self.warnings = (
            [f"ignored unknown column(s): {', '.join(self.mapping.unknown)}"] if self.mapping.unknown else []
        )
        read_as = self.source.encoding
        if not self._encoding_given and read_as in EIGHT_BIT_ENCODINGS and read_as != "cp1252":
            # A guess by how much the text reads like names: say which, so that a wrong one is noticed (cp1252,
            # the default for a file not in UTF-8 from before there was a guess, goes unsaid as it did).
            self.warnings.append(f"the file was read as {read_as} (detected); if names look wrong, give --encoding")

    def refuse_lookalikes(self) -> None:
        """Stop before writing when a column no alias names looks like a field no other column gives (a typo
        such as "Orgnisationsnummer"): created without it, the records would need repairing."""
        found = self.mapping.lookalikes(self.kind)
        if not found:
            return
        header, field = next(iter(found.items()))
        more = f" (and {len(found) - 1} more such column(s))" if len(found) > 1 else ""
        raise SourceError(
            self.file.name,
            f"column {header!r} is not mapped but looks like {field}{more}: map it with --mapping "
            f'(e.g. {{"{header}": "{field}"}}, or null to leave it out), or give --allow-unmapped',
            line=self.source.header_line,
        )

    def slots(self) -> int | None:
        # An edited report numbers its rows itself, and a number must not repeat an earlier row's.
        plain = self.source.plain
        return plain.slots if plain is not None and "row_number" not in self.mapping.report_columns else None

    def iter_items(self, wanted: Wanted | None = None, *, slot: int | None = None) -> Iterator[Item | None]:
        report = self.mapping.report_columns
        number_at, status_at, entity_at = (report.get(c) for c in ("row_number", "status", "entity_id"))
        keep = self._keep
        strip = self._report
        used: set[int] = set()
        above = self.lineage.highest if self.lineage is not None else 0
        start = 0 if slot is None else slot * SLOT_ROWS
        for position, row in enumerate(self.source.rows(slot), start):
            values = tuple(map(unescape_cell, row.values)) if strip else row.values
            if number_at is None:
                row_number = row.line
            else:
                row_number = _int(values[number_at]) or 0
                if row_number in used or row_number <= 0:
                    # A line added to (or copied in) an edited report: a number no run of this file has used.
                    row_number = above + row.line
                used.add(row_number)
            if wanted is not None and not wanted(position):
                yield None
                continue
            raw = tuple(values[i] for i in keep) if strip else values
            if row.error:
                error = {"code": "MALFORMED_ROW", "message": row.error, "fields": {}}
                yield Item(row_number, raw, error=error)
                continue
            if status_at is not None:
                done = values[status_at].strip().lower()
                if done in ("created", "updated", "skipped"):
                    entity = _entity_id(values[entity_at]) if entity_at is not None else None
                    yield Item(row_number, raw, skip=f"already {done} by the earlier run", entity_id=entity)
                    continue
            if self.lineage is not None and (earlier := self._done_before(row_number, raw, values)) is not None:
                yield earlier
                continue
            payload = row_payload(values, self.mapping)
            if self.defaults:
                payload = with_defaults(payload, self.defaults)
            if self.source.has_nuls and (refused := unstorable(payload)) is not None:
                yield Item(row_number, raw, error=refused.error)
                continue
            # Positional: a named tuple made with keywords is slower to make, and this runs for every row.
            made = self.lineage.record_of(row_number) if self.lineage is not None else None
            yield (
                Item(row_number, raw, payload, None, None, made) if payload else Item(row_number, raw, skip="empty row")
            )

    def _done_before(self, row_number: int, raw: Sequence[str], values: Sequence[str]) -> Item | None:
        """A reimported row as its family's runs decide it: skipped, or failed as a line that now holds another
        record (None: the row is imported, matched to the record the family made from it if there is one)."""
        assert self.lineage is not None
        if mismatch := self.lineage.mismatch(row_number, partial(row_payload, values, self.mapping)):
            return Item(row_number, raw, error=mismatch)
        if (reason := self.lineage.skip_reason(row_number)) is not None:
            return Item(row_number, raw, skip=reason)
        return None


class StoredRowsInput:
    """The rows a parent CSV run stored, mapped again (optionally with a new mapping), streamed from the database."""

    def __init__(
        self,
        engine: AsyncEngine,
        parent: Mapping[Any, Any],
        kind: Kind,
        overrides: Mapping[str, str | None] | None,
        *,
        lineage: Lineage,
        total: int,
        defaults: Mapping[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.defaults = defaults or {}
        self.parent_id: uuid.UUID = parent["id"]
        self.headers = list(parent["headers"] or [])
        self.total = total
        self.lineage = lineage
        self.mapping: HeaderMapping = checked_mapping(f"run {self.parent_id}", self.headers, kind, overrides)
        self.warnings: list[str] = []

    async def items(self) -> AsyncIterator[Item]:
        async for batch in run_rows.rows(self.engine, self.parent_id, failed_only=self.lineage.failed_only):
            for (row_number, status, *_, entity_id), raw in batch:
                if status != "failed" and not self.lineage.repairs:
                    yield Item(row_number, raw, skip=f"already {status} by the parent run", entity_id=entity_id)
                elif (reason := self.lineage.skip_reason(row_number)) is not None:
                    yield Item(row_number, raw, skip=reason)
                elif len(raw) != len(self.headers):  # a line with too many values: fix it in a file, not here
                    message = f"the line has {len(raw)} values but the header has {len(self.headers)} columns"
                    yield Item(row_number, raw, error={"code": "MALFORMED_ROW", "message": message, "fields": {}})
                else:
                    payload = with_defaults(row_payload(tuple(v or "" for v in raw), self.mapping), self.defaults)
                    made = self.lineage.record_of(row_number)
                    yield (
                        Item(row_number, raw, payload, entity_id=made)
                        if payload
                        else Item(row_number, raw, skip="empty row")
                    )


class SavedPageInput(_FileItems):
    """A saved JSON page (or list of records) of a connected system's API."""

    def __init__(self, file: Snapshot, kind: Kind, connector: str) -> None:
        from connectors.crm import CONNECTORS

        name = file.name
        try:
            data = json.loads(Path(file.path).read_text(encoding="utf-8-sig"))
        except OSError as exc:
            raise SourceError(name, f"cannot read the file: {exc.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SourceError(name, f"not a JSON file: {exc}") from None
        except RecursionError:
            raise SourceError(name, "not a saved API page: its JSON is nested too deeply") from None
        try:
            self.records = CONNECTORS[connector].parse_saved_page(data, kind)
        except Exception as exc:  # a connector's parse error, whatever its type, means "not that system's page"
            raise SourceError(name, f"not a saved {connector} page: {exc}") from None
        if not self.records:
            raise SourceError(name, f"no {kind} records in this {connector} page")
        self.headers = None
        self.total = len(self.records)
        self.warnings: list[str] = []

    def iter_items(self, wanted: Wanted | None = None, *, slot: int | None = None) -> Iterator[Item | None]:
        assert slot is None, "a saved page is read whole"
        for position, record in enumerate(self.records):
            if wanted is None or wanted(position):
                refused = unstorable(record.payload)
                if refused is not None:
                    yield Item(position + 1, dict(record.raw), error=refused.error)
                else:
                    yield Item(position + 1, dict(record.raw), payload=dict(record.payload))
            else:
                yield None


def detect_source(file: Snapshot) -> str:
    """`--source auto`: JSON pages are told apart by their envelope; everything else is CSV."""
    if not file.name.lower().endswith(".json"):
        return "csv"
    try:
        with open(file.path, "rb") as f:
            head = f.read(4096).decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise SourceError(file.name, f"cannot read the file: {exc.strerror}") from None
    for marker, source in (
        ('"collection"', "economic"),
        ('"Data"', "visma-eaccounting"),
        ('"results"', "visma"),
    ):
        if marker in head:
            return source
    return "faktoora"


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _entity_id(text: str | None) -> str | None:
    """The canonical text of an id from a report's column, or None."""
    try:
        return str(as_uuid(text)) if text else None
    except ValueError:
        return None
