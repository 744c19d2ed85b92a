"""No-access cases: each failed attempt at the door, the cases they add up to, and officers' actions on them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CASE_OUTCOMES = ("access_gained", "visit_completed", "legal_referral", "tenant_moved", "other")
CASE_ACTION_KINDS = ("note", "phone_call", "letter_sent", "home_visit", "joint_visit", "referral")


def _in(name: str, values: tuple[str, ...]) -> str:
    return f"{name} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "access_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("property_id", sa.Integer(), nullable=False),
        sa.Column("visit_type", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=30), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.Column("closed_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(_in("status", ("open", "closed")), name="ck_access_cases_status"),
        sa.CheckConstraint(
            "status = 'open' OR (outcome IS NOT NULL AND closed_at IS NOT NULL)", name="ck_access_cases_outcome"
        ),
        sa.CheckConstraint(f"outcome IS NULL OR {_in('outcome', CASE_OUTCOMES)}", name="ck_access_cases_outcomes"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["property_id"], ["properties.id"]),
        sa.ForeignKeyConstraint(["closed_by"], ["officers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_cases_tenant_id", "access_cases", ["tenant_id"])
    op.create_index(
        "uq_access_cases_open",
        "access_cases",
        ["tenant_id", "visit_type"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )

    op.create_table(
        "access_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("visit_type", sa.String(length=40), nullable=False),
        sa.Column("slot_start", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("slot_end", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reported_by", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("photo_ref", sa.String(length=500), nullable=True),
        sa.Column("card_left", sa.Boolean(), nullable=True),
        sa.Column("prebooked", sa.Boolean(), nullable=False),
        sa.Column("notified_in_writing", sa.Boolean(), nullable=False),
        sa.Column("notice", sa.Text(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(length=20), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("follow_up_status", sa.String(length=20), nullable=False),
        sa.Column("follow_up_due_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("follow_up_message_id", sa.Integer(), nullable=True),
        sa.Column("follow_up_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["access_cases.id"]),
        sa.ForeignKeyConstraint(["follow_up_message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_attempts_visit_id", "access_attempts", ["visit_id"])
    op.create_index("ix_access_attempts_tenant_id", "access_attempts", ["tenant_id"])
    op.create_index("ix_access_attempts_case_id", "access_attempts", ["case_id"])
    op.create_index("ix_access_attempts_follow_up_due_at", "access_attempts", ["follow_up_due_at"])

    op.create_table(
        "access_case_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_in("kind", CASE_ACTION_KINDS), name="ck_access_case_actions_kind"),
        sa.ForeignKeyConstraint(["case_id"], ["access_cases.id"]),
        sa.ForeignKeyConstraint(["officer_id"], ["officers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_case_actions_case_id", "access_case_actions", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_access_case_actions_case_id", table_name="access_case_actions")
    op.drop_table("access_case_actions")
    for index in ("follow_up_due_at", "case_id", "tenant_id", "visit_id"):
        op.drop_index(f"ix_access_attempts_{index}", table_name="access_attempts")
    op.drop_table("access_attempts")
    op.drop_index("uq_access_cases_open", table_name="access_cases")
    op.drop_index("ix_access_cases_tenant_id", table_name="access_cases")
    op.drop_table("access_cases")
