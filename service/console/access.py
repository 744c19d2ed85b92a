"""Who may see what: safeguarding is for safeguarding officers only.

A conversation handed to people for a safeguarding reason, or one whose tenant
has a restricted note (discreet contact for domestic-abuse reasons), is seen
only by safeguarding officers: in the queue, in search, on its own page and in
every action on it. For everyone else it does not exist (hidden from lists, 404
on its address), so even the fact that there is something to hide is not shown.
Admin is no exception: running the console is not a reason to read safeguarding
cases (least privilege).

Inside a conversation a safeguarding officer can see, a restricted note is
shown in full; if one ever reaches a page for another role, it is replaced by
a neutral line.
"""

from sqlalchemy import ColumnElement, and_, exists, select, true
from sqlalchemy.orm import Session

from service.adjustments import KINDS, SAFEGUARDING_ROLES
from store.models import Adjustment, Conversation, Tenant

SAFEGUARDING_REASON = "safeguarding"
NEUTRAL_LINE = "A safeguarding arrangement is in place. Speak to the safeguarding team."
RESTRICTED_KINDS = frozenset(kind for kind, meta in KINDS.items() if meta.restricted)
RESTRICTED_BRIEFINGS = frozenset(meta.briefing for meta in KINDS.values() if meta.restricted and meta.briefing)


def sees_safeguarding(role: str) -> bool:
    return role in SAFEGUARDING_ROLES


def visible_conversations(role: str) -> ColumnElement[bool]:
    """A condition on Conversation that holds for the conversations `role` may see."""
    if sees_safeguarding(role):
        return true()
    restricted_note = exists().where(Adjustment.tenant_id == Conversation.tenant_id, Adjustment.restricted.is_(True))
    # IS DISTINCT FROM: a conversation with no handoff reason (NULL) is not a safeguarding one.
    return and_(Conversation.handoff_reason.is_distinct_from(SAFEGUARDING_REASON), ~restricted_note)


def may_see(session: Session, role: str, conversation: Conversation) -> bool:
    if sees_safeguarding(role):
        return True
    if conversation.handoff_reason == SAFEGUARDING_REASON:
        return False
    if conversation.tenant_id is None:
        return True
    restricted_note = session.scalar(
        select(Adjustment.id)
        .where(Adjustment.tenant_id == conversation.tenant_id, Adjustment.restricted.is_(True))
        .limit(1)
    )
    return restricted_note is None


def visible_tenants(role: str, tenant_id_column) -> ColumnElement[bool]:
    """A condition on a tenant id column (a no-access case's, a visit's) for the tenants `role` may see.

    The same rule as for conversations: a tenant with a restricted note, or with a
    conversation handed over for safeguarding, exists only for safeguarding officers.
    """
    if sees_safeguarding(role):
        return true()
    restricted_note = exists().where(Adjustment.tenant_id == tenant_id_column, Adjustment.restricted.is_(True))
    safeguarding_conversation = exists().where(
        Conversation.tenant_id == tenant_id_column, Conversation.handoff_reason == SAFEGUARDING_REASON
    )
    return and_(~restricted_note, ~safeguarding_conversation)


def may_see_tenant(session: Session, role: str, tenant_id: int) -> bool:
    if sees_safeguarding(role):
        return True
    return session.scalar(select(Tenant.id).where(Tenant.id == tenant_id, visible_tenants(role, Tenant.id))) is not None


def may_manage_kind(role: str, kind: str) -> bool:
    """Only safeguarding officers add or remove a restricted kind of note."""
    return kind not in RESTRICTED_KINDS or sees_safeguarding(role)


def briefing_for_role(role: str, briefing: list[str]) -> list[str]:
    """The operative's briefing as `role` may read it: a restricted line becomes the neutral one."""
    if sees_safeguarding(role):
        return list(briefing)
    shown = [NEUTRAL_LINE if line in RESTRICTED_BRIEFINGS else line for line in briefing]
    return list(dict.fromkeys(shown))
