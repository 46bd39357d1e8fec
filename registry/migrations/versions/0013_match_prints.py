"""The records rows with no org, own or VAT number created, by the fingerprint of their identifying fields

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "match_prints",
        sa.Column("company_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.BigInteger, nullable=False),
        sa.Column("entity_id", sa.Uuid, nullable=False),
        sa.PrimaryKeyConstraint("company_id", "kind", "source", "fingerprint", name="pk_match_prints"),
    )


def downgrade() -> None:
    op.drop_table("match_prints")
