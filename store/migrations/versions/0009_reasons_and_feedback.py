"""Why visits do not suit or were missed, and how completed visits went.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 17:00:00
"""

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CATEGORIES = ("at_work", "unwell", "caring", "forgot", "did_not_know", "afraid", "cannot_reach_door", "other")


def upgrade() -> None:
    op.create_table(
        "visit_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("visit_status", sa.String(length=20), nullable=True),
        sa.Column("at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(sa.column("category").in_(CATEGORIES), name="ck_visit_reasons_category"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_visit_reasons_tenant_id", "visit_reasons", ["tenant_id"])
    op.create_index("ix_visit_reasons_visit_id", "visit_reasons", ["visit_id"])

    op.create_table(
        "visit_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("asked_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("question_message_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("words", sa.Text(), nullable=True),
        sa.Column("answer_message_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("score IS NULL OR (score >= 1 AND score <= 5)", name="ck_visit_feedback_score"),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["question_message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["answer_message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("visit_id", name="uq_visit_feedback_visit"),
    )
    op.create_index("ix_visit_feedback_tenant_id", "visit_feedback", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_visit_feedback_tenant_id", table_name="visit_feedback")
    op.drop_table("visit_feedback")
    op.drop_index("ix_visit_reasons_visit_id", table_name="visit_reasons")
    op.drop_index("ix_visit_reasons_tenant_id", table_name="visit_reasons")
    op.drop_table("visit_reasons")
