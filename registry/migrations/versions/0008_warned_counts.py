"""Count the rows created or updated with a warning, per batch and per run

A run whose rows all went in but some with a warning (an IBAN stored as supplied, say) said only "succeeded";
its summary now says how many rows carry a warning, so nobody has to read the report to find out.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Earlier runs' rows are counted as they are (0): recounting would read every batch's outcomes again.
TABLES = ("import_runs", "import_batches")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("warned", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35 and later): a batch rebuild of import_batches would break the
    # import_rows view that reads it.
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN warned")
