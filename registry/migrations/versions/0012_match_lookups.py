"""Indexes a file import finds existing records by: the source's own number and the VAT number, per company

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LOOKUPS = (
    ("customers", "customer_number"),
    ("customers", "vat_number"),
    ("suppliers", "supplier_number"),
    ("suppliers", "vat_number"),
)


def upgrade() -> None:
    for table, column in LOOKUPS:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_{table}_company_{column}",
            table,
            ["company_id", column],
            postgresql_where=where,
            sqlite_where=where,
        )


def downgrade() -> None:
    for table, column in reversed(LOOKUPS):
        op.drop_index(f"ix_{table}_company_{column}", table_name=table)
