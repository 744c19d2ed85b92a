"""What the console reads from the store, one query per function."""

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, selectinload

from service.console.access import SAFEGUARDING_REASON, sees_safeguarding, visible_conversations
from service.handoff import OFFICER, QUEUED
from service.phones import InvalidPhoneNumber, normalise_phone
from store.models import Adjustment, AuditEntry, Conversation, Message, Officer, OfficerTask, Tenant, Visit

SEARCH_LIMIT = 50
TRANSCRIPT_LIMIT = 500


def conversations_with_people(session: Session, role: str) -> list[Conversation]:
    """Queued or taken conversations `role` may see: urgent first, then the longest waiting."""
    return list(
        session.scalars(
            select(Conversation)
            .where(Conversation.owner.in_((QUEUED, OFFICER)), visible_conversations(role))
            .options(selectinload(Conversation.tenant))
            .order_by(Conversation.handoff_urgent.desc(), Conversation.handoff_at.asc().nulls_last(), Conversation.id)
        )
    )


def find_conversations(session: Session, query: str, role: str) -> list[Conversation]:
    """Conversations `role` may see whose tenant's name contains `query`, or whose number is it in any UK form."""
    query = query.strip()
    if not query:
        return []
    matches = [Tenant.name.icontains(query, autoescape=True)]
    try:
        matches.append(Conversation.address == normalise_phone(query))
    except InvalidPhoneNumber:
        pass
    return list(
        session.scalars(
            select(Conversation)
            .outerjoin(Tenant, Conversation.tenant_id == Tenant.id)
            .where(or_(*matches), visible_conversations(role))
            .options(selectinload(Conversation.tenant))
            .order_by(Conversation.last_inbound_at.desc().nulls_last(), Conversation.id)
            .limit(SEARCH_LIMIT)
        )
    )


def conversations_escalated(session: Session, conversation_ids: list[int]) -> set[int]:
    """Which of these conversations have an escalation to the specialist team still open."""
    if not conversation_ids:
        return set()
    found = session.scalars(
        select(OfficerTask.conversation_id).where(
            OfficerTask.conversation_id.in_(conversation_ids),
            OfficerTask.kind == "escalated",
            OfficerTask.status == "open",
        )
    )
    return set(found)


def officer_names(session: Session, officer_ids) -> dict[int, str]:
    ids = {officer_id for officer_id in officer_ids if officer_id is not None}
    if not ids:
        return {}
    return {row.id: row.name for row in session.execute(select(Officer.id, Officer.name).where(Officer.id.in_(ids)))}


def transcript(session: Session, conversation_id: int) -> list[Message]:
    """The conversation's messages both ways, oldest first (the most recent TRANSCRIPT_LIMIT)."""
    newest = session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id.desc())
        .limit(TRANSCRIPT_LIMIT)
    ).all()
    return list(reversed(newest))


def tenant_visits(session: Session, tenant_id: int) -> list[Visit]:
    """The tenant's visits with their status history, soonest first."""
    return list(
        session.scalars(
            select(Visit)
            .where(Visit.tenant_id == tenant_id)
            .options(selectinload(Visit.history), selectinload(Visit.operative))
            .order_by(Visit.slot_start)
        )
    )


def audit_trail(
    session: Session, limit: int, conversation_id: int | None = None, role: str | None = None
) -> list[AuditEntry]:
    """The newest audit entries first, for one conversation or for the whole console.

    With `role`, entries about tenants in discreet contact are left out unless the role sees
    safeguarding: even "a discreet note was recorded" says too much.
    """
    query = select(AuditEntry).options(selectinload(AuditEntry.officer)).order_by(AuditEntry.id.desc()).limit(limit)
    if conversation_id is not None:
        query = query.where(AuditEntry.conversation_id == conversation_id)
    if role is not None and not sees_safeguarding(role):
        restricted = exists().where(Adjustment.tenant_id == AuditEntry.tenant_id, Adjustment.restricted.is_(True))
        safeguarding = exists().where(
            Conversation.id == AuditEntry.conversation_id, Conversation.handoff_reason == SAFEGUARDING_REASON
        )
        query = query.where(~restricted, ~safeguarding)
    return list(session.scalars(query))
