"""The mapping a company used for a layout of headers, remembered

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learned_mappings",
        sa.Column("company_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("layout", sa.String(64), nullable=False),
        sa.Column("mapping", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("company_id", "kind", "layout", name="pk_learned_mappings"),
    )


def downgrade() -> None:
    op.drop_table("learned_mappings")
