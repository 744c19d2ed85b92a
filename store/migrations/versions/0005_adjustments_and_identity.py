"""Adjustments a tenant needs, verified phone numbers and doorstep codes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:40:00
"""
import sqlalchemy as sa
from alembic import op

import store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("special_category", sa.Boolean(), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("consent_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consent_how", sa.String(length=80), nullable=True),
        sa.Column("recorded_by", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "special_category = false OR consent_at IS NOT NULL", name="ck_adjustments_special_category_consent"
        ),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_adjustments_tenant_id", "adjustments", ["tenant_id"], unique=False)
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_verified_at", store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("needs_asked_at", store.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("doorstep_code", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_column("doorstep_code")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("needs_asked_at")
        batch_op.drop_column("phone_verified_at")
    op.drop_index("ix_adjustments_tenant_id", table_name="adjustments")
    op.drop_table("adjustments")
