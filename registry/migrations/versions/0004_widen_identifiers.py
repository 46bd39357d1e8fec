"""Identifier columns as wide as the models allow

A foreign org number or VAT number, or an invalid IBAN kept as supplied, passed validation but did not fit
its column; on Postgres that failed a whole commit group.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WIDER = {
    "customers": {"org_number": (20, 64), "vat_number": (20, 64)},
    "suppliers": {"org_number": (20, 64), "vat_number": (20, 64), "iban": (34, 64), "bic": (11, 20)},
}


def _alter(to_new: bool) -> None:
    for table, columns in WIDER.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, (old, new) in columns.items():
                batch_op.alter_column(
                    column,
                    existing_type=sa.String(old if to_new else new),
                    type_=sa.String(new if to_new else old),
                    existing_nullable=True,
                )


def upgrade() -> None:
    _alter(to_new=True)


def downgrade() -> None:
    _alter(to_new=False)
