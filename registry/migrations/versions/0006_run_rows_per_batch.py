"""A run's rows are kept per batch: import_rows becomes import_batches

One row per 50-row batch with the batch's counts, its rows' outcomes and their raw values as JSON text, instead
of one row per source row: the bookkeeping row per source row was half of Postgres' work in an import. Existing
runs' rows move over, so their reports and reimports keep working.

Revision ID: 0006
Revises: 0005
"""

import json
import uuid
from collections.abc import Iterator
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ROW_COLUMNS = ("row_number", "status", "error_code", "error_field", "error_message", "entity_id")


def _row_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("batch_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64)),
        sa.Column("error_field", sa.String(length=64)),
        sa.Column("error_message", sa.Text()),
        sa.Column("entity_id", sa.Uuid()),
        sa.Column("warnings", sa.JSON()),
        sa.Column("raw", sa.JSON(), nullable=False),
    ]


def _batch_columns() -> list[sa.Column[Any]]:
    counts = [sa.Column(name, sa.Integer(), nullable=False) for name in ("created", "updated", "skipped", "failed")]
    return [
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("batch_index", sa.Integer(), nullable=False),
        sa.Column("max_row", sa.Integer(), nullable=False),
        *counts,
        sa.Column("archived", sa.Integer(), nullable=False),
        sa.Column("outcomes", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
    ]


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    found = bind.execute(
        sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return bool(found)


def _batches(rows: Iterator[Any]) -> Iterator[dict[str, Any]]:
    for (run_id, index), group in groupby(rows, key=lambda r: (r.run_id, r.batch_index)):
        members = list(group)
        outcomes = [[getattr(r, c) if c != "entity_id" else _text(r.entity_id) for c in _ROW_COLUMNS] for r in members]
        statuses = [r.status for r in members]
        yield {
            "run_id": run_id,
            "batch_index": index,
            "max_row": max(r.row_number for r in members),
            **{s: statuses.count(s) for s in ("created", "updated", "skipped", "failed")},
            "archived": sum(1 for r in members if r.error_code == "ARCHIVED"),
            "outcomes": _json(outcomes),
            "raw": _json([r.raw for r in members]),
        }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _windows(query: sa.Select[Any], source: sa.TableClause, batches: int = 200) -> Iterator[Any]:
    """The query's rows, a few hundred batches of one run at a time (a server-side cursor would keep the table
    in use, so it could not be dropped in the same transaction)."""
    bind = op.get_bind()
    c = source.c
    for (run_id,) in bind.execute(sa.select(c.run_id).distinct()).all():
        highest = bind.execute(sa.select(sa.func.max(c.batch_index)).where(c.run_id == run_id)).scalar_one()
        for start in range(0, highest + 1, batches):
            window = c.batch_index.between(start, start + batches - 1)
            yield from bind.execute(query.where(c.run_id == run_id, window)).all()


def _copy_in_chunks(source: Iterator[dict[str, Any]], table: sa.Table, size: int = 500) -> None:
    chunk: list[dict[str, Any]] = []
    for record in source:
        chunk.append(record)
        if len(chunk) == size:
            op.get_bind().execute(table.insert(), chunk)
            chunk = []
    if chunk:
        op.get_bind().execute(table.insert(), chunk)


def upgrade() -> None:
    rows = sa.table("import_rows", *_row_columns())
    batches = op.create_table(
        "import_batches",
        *_batch_columns(),
        sa.PrimaryKeyConstraint("run_id", "batch_index", name=op.f("pk_import_batches")),
    )
    if _lz4_available():
        op.execute("ALTER TABLE import_batches ALTER COLUMN outcomes SET COMPRESSION lz4")
        op.execute("ALTER TABLE import_batches ALTER COLUMN raw SET COMPRESSION lz4")
    ordered = sa.select(rows).order_by(rows.c.run_id, rows.c.batch_index, rows.c.row_number)
    _copy_in_chunks(_batches(_windows(ordered, rows)), batches)
    op.drop_table("import_rows")


def downgrade() -> None:
    batches = sa.table("import_batches", *_batch_columns())
    rows = op.create_table(
        "import_rows",
        *_row_columns(),
        sa.PrimaryKeyConstraint("run_id", "row_number", name=op.f("pk_import_rows")),
    )

    def expanded(stored: Iterator[Any]) -> Iterator[dict[str, Any]]:
        for b in stored:
            for outcome, raw in zip(json.loads(b.outcomes), json.loads(b.raw), strict=True):
                record = dict(zip(_ROW_COLUMNS, outcome, strict=True))
                entity = record["entity_id"]
                yield {**record, "entity_id": entity and uuid.UUID(entity), "run_id": b.run_id,
                       "batch_index": b.batch_index, "warnings": None, "raw": raw}  # fmt: skip

    query = sa.select(batches).order_by(batches.c.run_id, batches.c.batch_index)
    _copy_in_chunks(expanded(_windows(query, batches)), rows)
    op.drop_table("import_batches")
