"""Handoff to officers: who owns a conversation, why, and since when.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 13:58:03
"""
import sqlalchemy as sa
from alembic import op

import store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handoff_reason", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("handoff_at", store.types.UTCDateTime(timezone=True), nullable=True))
        # Existing conversations are the assistant's, with nothing urgent and no holding message sent.
        batch_op.add_column(sa.Column("handoff_urgent", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("assigned_officer_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("holding_sent", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("holding_sent")
        batch_op.drop_column("assigned_officer_id")
        batch_op.drop_column("handoff_urgent")
        batch_op.drop_column("handoff_at")
        batch_op.drop_column("handoff_reason")
