"""Operatives on their way: API keys, the day's progress on each visit, and visits we missed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00
"""
import sqlalchemy as sa
from alembic import op

import store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column(
            "created_at", store.types.UTCDateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_sha256"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operative_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("eta", store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("arrived_at", store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("tracking_token", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("missed_by_provider_at", store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_visits_tracking_token"), ["tracking_token"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visits_tracking_token"))
        batch_op.drop_column("missed_by_provider_at")
        batch_op.drop_column("tracking_token")
        batch_op.drop_column("arrived_at")
        batch_op.drop_column("eta")
        batch_op.drop_column("operative_status")
    op.drop_table("api_keys")
