"""Officers' sessions can be ended server-side: sessions signed in before this moment are over.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 15:02:00
"""
import sqlalchemy as sa
from alembic import op

import store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sessions_valid_from", store.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("officers", schema=None) as batch_op:
        batch_op.drop_column("sessions_valid_from")
