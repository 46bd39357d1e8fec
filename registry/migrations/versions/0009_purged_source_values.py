"""When a run's stored source values were purged

Raw source values (personnummer included) are kept so that a run can be reimported and reported; a purge
drops them from finished runs after a retention period, keeping counts and outcomes, and says when.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_runs", sa.Column("purged_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.execute("ALTER TABLE import_runs DROP COLUMN purged_at")
