"""The audit trail: one entry for everything an officer does in the console."""

from datetime import datetime

from sqlalchemy.orm import Session

from store.models import AuditEntry, Conversation


def record(
    session: Session,
    officer_id: int,
    action: str,
    now: datetime,
    *,
    conversation: Conversation | None = None,
    visit_id: int | None = None,
    tenant_id: int | None = None,
    detail: dict | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction, so the entry and the change commit together.

    The tenant is the conversation's, or `tenant_id` for an action on no conversation (a no-access case).
    """
    entry = AuditEntry(
        officer_id=officer_id,
        action=action,
        conversation_id=conversation.id if conversation else None,
        tenant_id=conversation.tenant_id if conversation else tenant_id,
        visit_id=visit_id,
        detail=detail or {},
        at=now,
    )
    session.add(entry)
    return entry
