"""The typed records that cross the application layer: what the faces receive and print as JSON."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from registry.clock import utc_or_none
from registry.fields import Kind as Kind  # re-exported: the faces name kinds through this module

FINISHED = ("succeeded", "partially_succeeded", "failed", "cancelled")
AWAITING_MAPPING = "awaiting_mapping"  # an upload's run waits for a person to confirm how its columns map


def exit_code(status: str, *, failed: int, processed: int, error: str | None) -> int:
    """The CLI's contract: 0 every row succeeded, 1 finished with failed rows, 2 nothing could be done."""
    if error:
        return 2 if processed == 0 else 1
    return 1 if failed or status == "failed" else 0


def _iso(value: datetime | None) -> str | None:
    value = utc_or_none(value)
    return value.isoformat() if value else None


@dataclass(frozen=True)
class RunSummary:
    """A run as the faces show it: status and counts (exact while it runs: counted from committed batches)."""

    run_id: str
    status: str
    company_id: str
    kind: Kind
    source: str
    source_name: str
    dry_run: bool
    total: int
    processed: int
    created: int
    updated: int
    skipped: int
    failed: int
    archived: int
    warned: int
    parent_run_id: str | None
    warnings: list[str]
    error: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    stale: bool = False  # running, but its process stopped: it waits for a resume
    purged_at: str | None = None  # its stored source values were dropped then (retention)

    @classmethod
    def of(cls, run: Mapping[Any, Any], *, stale: bool = False) -> "RunSummary":
        """From a row of `import_runs`."""
        return cls(
            run_id=str(run["id"]),
            status=run["status"],
            company_id=run["company_id"],
            kind=run["kind"],
            source=run["source"],
            source_name=run["source_name"],
            dry_run=bool(run["dry_run"]),
            total=run["total"],
            processed=run["processed"],
            created=run["created"],
            updated=run["updated"],
            skipped=run["skipped"],
            failed=run["failed"],
            archived=run["archived"],
            warned=run["warned"],
            parent_run_id=str(run["parent_run_id"]) if run["parent_run_id"] else None,
            warnings=list(run["warnings"] or []),
            error=run["error"],
            created_at=_iso(run["created_at"]),
            started_at=_iso(run["started_at"]),
            finished_at=_iso(run["finished_at"]),
            stale=stale,
            purged_at=_iso(run.get("purged_at")),
        )

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.run_id)

    @property
    def succeeded(self) -> int:
        return self.created + self.updated

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def exit_code(self) -> int:
        return exit_code(self.status, failed=self.failed, processed=self.processed, error=self.error)

    def to_json(self) -> dict[str, Any]:
        """The object `--json` prints (and the HTTP API returns): the field order is part of the contract."""
        data = asdict(self)
        data.pop("warnings")
        data.pop("error")
        ordered = {k: data[k] for k in ("run_id", "status", "company_id", "kind", "source", "source_name", "dry_run")}
        return {
            **ordered,
            "total": self.total,
            "processed": self.processed,
            "succeeded": self.succeeded,
            **{k: data[k] for k in ("created", "updated", "skipped", "failed", "archived", "warned", "parent_run_id")},
            "warnings": self.warnings,
            "error": self.error,
            **{k: data[k] for k in ("created_at", "started_at", "finished_at", "stale", "purged_at")},
        }


@dataclass(frozen=True)
class RunRow:
    """One source row as a run recorded it: where a person finds it, what became of it, what it said."""

    row_number: int
    status: str
    error_code: str | None
    error_field: str | None
    error_message: str | None
    entity_id: str | None
    source: Sequence[str | None] | Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RowsPage:
    """A page of a run's rows; `next_cursor` continues after the last one (None: there are no more)."""

    rows: list[RunRow]
    next_cursor: str | None
    headers: list[str] | None = None
    fields: list[str | None] | None = None  # the field each header's column maps to (None: it maps to none)

    def to_json(self) -> dict[str, Any]:
        return {"rows": [r.to_json() for r in self.rows], "next_cursor": self.next_cursor, "headers": self.headers,
                "fields": self.fields}  # fmt: skip


@dataclass(frozen=True)
class ImportRequest:
    """A file to import, as a face received it."""

    path: str
    company_id: str
    kind: Kind
    source: str = "auto"
    mapping_path: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    dry_run: bool = False
    defaults: Mapping[str, str] | None = None  # field -> value for rows without one of their own
    allow_unmapped: bool = False  # import although a column that looks like a field is not mapped
    mode: str = "upsert"  # upsert | create | update: what a row matching an existing record does (docs/usage.md)
    upload_id: str | None = None  # the file is an upload (`path` is then its name), not a path on this machine
    mapping: Mapping[str, str | None] | None = None  # a mapping given as such, not in a file (`mapping_path`)
    sheet: str | None = None  # a workbook's sheet: its name or number from 1 (default: the first visible one)
    header_row: int | None = None  # a workbook's row of column names (default: found)


@dataclass(frozen=True)
class ReimportRequest:
    """A run's rows to import again, optionally from a corrected file or with another mapping."""

    parent_run_id: str
    failed_only: bool = False
    path: str | None = None
    mapping_path: str | None = None
    defaults: Mapping[str, str] | None = None  # instead of the parent's
    allow_unmapped: bool = False
    upload_id: str | None = None  # the corrected file is an upload (`path` is then its name)
    sheet: str | None = None  # the corrected workbook's sheet (default: the first visible one)
    header_row: int | None = None  # its row of column names (default: found)
    mapping: Mapping[str, str | None] | None = None  # a mapping given as such, not in a file (`mapping_path`)


@dataclass(frozen=True)
class ColumnPreview:
    """One source column: the field it maps to and how (alias, mapping, learned), or why none."""

    header: str
    field: str | None
    how: str  # alias | mapping | learned | ignored (a mapping's null) | report (our own column) | unmapped
    samples: list[str]  # its first few non-blank values
    suggestion: str | None = None  # for an unmapped column: the field it looks like (never applied)


@dataclass(frozen=True)
class MappingPreview:
    """What an import of a file would map, before anything is written; `stop`: why the import would stop."""

    file: str
    kind: Kind
    encoding: str | None  # of a text file; None for a workbook
    delimiter: str | None
    rows: int
    columns: list[ColumnPreview]
    stop: str | None
    sheet: str | None = None  # the workbook's sheet read
    sheets: list[str] = field(default_factory=list)  # all of a workbook's sheets, "(hidden)" after hidden ones

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CompanySettings:
    """What a company's imports use when a file does not say."""

    company_id: str
    default_country: str | None  # for rows that name no country (ISO alpha-2)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Connection:
    """A connected CRM: where it is, where its secret is found (never the secret), and its schedule."""

    connection_id: str
    company_id: str
    connector: str
    base_url: str
    credential_ref: str
    every_s: int
    last_status: str | None
    cursor: str | None
    last_sync_at: str | None
    next_sync_at: str | None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> "Connection":
        """From a row of `connections`."""
        return cls(
            connection_id=str(row["id"]),
            company_id=row["company_id"],
            connector=row["connector"],
            base_url=row["base_url"],
            credential_ref=row["credential_ref"],
            every_s=row["every_s"],
            last_status=row["last_status"],
            cursor=_iso(row["cursor"]),
            last_sync_at=_iso(row["last_sync_at"]),
            next_sync_at=_iso(row["next_sync_at"]),
        )

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.connection_id)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewConnection:
    company_id: str
    connector: str
    base_url: str
    credential_ref: str  # "env:ROSTERSYNC_CRED_…" or "file:PATH" (inside the secrets directory)
    every_s: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncSummary:
    """One sync of one connection: a run per kind, their totals, and why it stopped if it did."""

    connection_id: str
    status: str  # succeeded | partially_succeeded | failed | queued | already queued | skipped
    connector: str | None = None
    company_id: str | None = None
    runs: list[RunSummary] = field(default_factory=list)
    error: str | None = None
    reason: str | None = None  # why a queued sync was skipped (another process syncs the connection)

    def _total(self, name: str) -> int:
        return sum(int(getattr(run, name)) for run in self.runs)

    @property
    def total(self) -> int:
        return self._total("total")

    @property
    def processed(self) -> int:
        return self._total("processed")

    @property
    def created(self) -> int:
        return self._total("created")

    @property
    def updated(self) -> int:
        return self._total("updated")

    @property
    def skipped(self) -> int:
        return self._total("skipped")

    @property
    def archived(self) -> int:
        return self._total("archived")

    @property
    def failed(self) -> int:
        return self._total("failed")

    @property
    def succeeded(self) -> int:
        return self.created + self.updated

    @property
    def ran(self) -> bool:
        return self.connector is not None

    @property
    def exit_code(self) -> int:
        if self.status in ("queued", "already queued"):
            return 0
        return exit_code(self.status, failed=self.failed, processed=self.processed, error=self.error)

    def to_json(self) -> dict[str, Any]:
        if not self.ran:
            return {"connection_id": self.connection_id, "status": self.status} | (
                {"reason": self.reason} if self.reason else {}
            )
        counts = ("total", "processed", "created", "updated", "skipped", "archived", "failed", "succeeded")
        return {
            "connection_id": self.connection_id,
            "connector": self.connector,
            "company_id": self.company_id,
            "status": self.status,
            **{name: getattr(self, name) for name in counts},
            "error": self.error,
            "runs": [r.to_json() for r in self.runs],
        }


@dataclass(frozen=True)
class PartyQuery:
    """Which customers or suppliers to list: one company's, matching `search` (name or org number)."""

    kind: Kind
    company_id: str
    search: str | None = None
    include_archived: bool = False
    limit: int | None = None  # None: every record
    after: str | None = None  # the cursor of the page before


@dataclass(frozen=True)
class PartyPage:
    """Customers or suppliers of a company as a person may see them (personnummer masked)."""

    records: list[dict[str, Any]]
    total: int  # how many match, of which `records` are the first
    next_cursor: str | None = None  # where the next page starts (None: this is the last)

    @property
    def more(self) -> int:
        return self.total - len(self.records)


@dataclass(frozen=True)
class PurgeSummary:
    """What a purge dropped: the source values of this many finished runs and rows."""

    runs: int
    rows: int
    older_than_s: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RecheckSummary:
    """How the VIES rechecks of one call ended."""

    checked: int
    valid: int
    invalid: int
    pending: int
    unavailable: int
    still_pending: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# What an API key may be allowed; `*:write` lets a key read what it may write.
SCOPES = (
    "customers:read",
    "customers:write",
    "suppliers:read",
    "suppliers:write",
    "imports:read",
    "imports:write",
    "connections:read",
    "connections:write",
)


@dataclass(frozen=True)
class ApiKey:
    """An API key as a listing shows it: never the key itself, which only its maker sees, once."""

    key_id: str
    company_id: str
    name: str | None
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or (scope.endswith(":read") and f"{scope[:-5]}:write" in self.scopes)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "scopes": list(self.scopes), "created_at": _iso(self.created_at),
                "revoked_at": _iso(self.revoked_at)}  # fmt: skip


@dataclass(frozen=True)
class NewApiKey:
    record: ApiKey
    key: str  # shown once

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, **self.record.to_json()}


@dataclass(frozen=True)
class WebSession:
    """A browser signed in to the web importer: its key's record (company, scopes) and the CSRF token its forms
    carry."""

    key: ApiKey
    csrf: str


@dataclass(frozen=True)
class FamilyCounts:
    """Where a file stands after its first run and every reimport of it: each row counted by its latest outcome
    (a row a reimport left alone keeps the one it had)."""

    runs: int
    rows: int
    created: int
    updated: int
    skipped: int
    failed: int  # still failing

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
