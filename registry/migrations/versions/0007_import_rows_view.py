"""import_rows again, as a view: one row per source row, read out of import_batches

Revision 0006 keeps a run's rows per 50-row batch, which halved Postgres' work in an import, but a support
engineer asking the database "which rows of run X failed, and why" should not have to unpack JSON to find out.
The view gives the same question the same answer as the table before 0006 did (row number, status, error code,
field and message, created id, raw source values), at no cost to the writes: it is computed when read.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# ROWS FROM pairs each outcome with its raw values by position (both arrays are written together, in step).
POSTGRES = """
CREATE VIEW import_rows AS
SELECT b.run_id, b.batch_index,
       (x.outcome ->> 0)::integer AS row_number,
       x.outcome ->> 1 AS status,
       x.outcome ->> 2 AS error_code,
       x.outcome ->> 3 AS error_field,
       x.outcome ->> 4 AS error_message,
       (x.outcome ->> 5)::uuid AS entity_id,
       x.raw
FROM import_batches AS b
CROSS JOIN LATERAL ROWS FROM (json_array_elements(b.outcomes::json), json_array_elements(b.raw::json))
    AS x(outcome, raw)
"""

SQLITE = """
CREATE VIEW import_rows AS
SELECT b.run_id, b.batch_index,
       json_extract(o.value, '$[0]') AS row_number,
       json_extract(o.value, '$[1]') AS status,
       json_extract(o.value, '$[2]') AS error_code,
       json_extract(o.value, '$[3]') AS error_field,
       json_extract(o.value, '$[4]') AS error_message,
       json_extract(o.value, '$[5]') AS entity_id,
       json_extract(b.raw, '$[' || o.key || ']') AS raw
FROM import_batches AS b, json_each(b.outcomes) AS o
"""


def upgrade() -> None:
    op.execute(POSTGRES if op.get_bind().dialect.name == "postgresql" else SQLITE)


def downgrade() -> None:
    op.execute("DROP VIEW import_rows")
