"""Pending work at a home (jobs), so one visit can do several: "make every visit count".

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("property_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("due_by", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finding", sa.String(length=20), nullable=True),
        sa.Column("photo_ref", sa.String(length=200), nullable=True),
        sa.Column("reported_on_visit_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'booked', 'done')", name="ck_jobs_status"),
        sa.CheckConstraint("source IN ('hms', 'operative_report')", name="ck_jobs_source"),
        sa.ForeignKeyConstraint(["property_id"], ["properties.id"]),
        sa.ForeignKeyConstraint(["reported_on_visit_id"], ["visits.id"]),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_property_status", ["property_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_visit_id"), ["visit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_visit_id"))
        batch_op.drop_index("ix_jobs_property_status")
    op.drop_table("jobs")
