"""What an officer records about the tenant: a need, its removal, erasing them all, and a checked number.

Like the other quick actions, each needs the conversation taken over, and
changes the record and writes its audit entry in one transaction. The audit
entry, the log line and the note on screen carry ids and kinds only: the
tenant's words stay in the adjustment row, where erasure finds them.

A health, disability or safeguarding need is kept only with the tenant's
consent, and the officer says how it was given. Only safeguarding officers add
or remove a restricted kind (discreet contact). After every change the
tenant's reminder plans follow their needs.
"""

import logging

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select

from service import adjustments
from service.console import access, audit
from service.console.blueprint import CONVERSATION_ROLES, bp, current_officer, requires_role, runtime
from service.console.display import CONSENT_WAYS, need_kind
from service.console.views import conversation_or_404, is_mine, printable
from service.visits import replan_for_tenant
from store.db import transaction
from store.models import Adjustment, Conversation

log = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 1000


@bp.post("/conversations/<int:conversation_id>/needs")
@requires_role(*CONVERSATION_ROLES)
def record_need(conversation_id: int):
    """Keep a need the tenant told the officer about, in the tenant's words, with their consent if it is needed."""
    officer, now, settings = current_officer(), runtime().clock(), runtime().settings
    kind = request.form.get("kind", "")
    detail = printable(request.form.get("detail", ""))
    consent_how = CONSENT_WAYS.get(request.form.get("consent_how", "")) if request.form.get("consent") else None
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            return _not_yours(conversation_id)
        if conversation.tenant_id is None:
            return _refused(conversation_id, "This number is not in our records: there is no tenant to note it for.")
        meta = adjustments.KINDS.get(kind)
        if meta is None:
            return _refused(conversation_id, "Choose what kind of need this is.")
        if not access.may_manage_kind(officer.role, kind):
            abort(403)
        if not detail or len(detail) > MAX_DETAIL_CHARS:
            return _refused(conversation_id, f"Write the tenant's words, between 1 and {MAX_DETAIL_CHARS} characters.")
        if meta.special_category and consent_how is None:
            return _refused(
                conversation_id,
                "This is health, disability or safeguarding information: it is kept only if the tenant agreed. "
                "Tick the consent box and say how they agreed.",
            )

        first_discreet = kind == adjustments.DISCREET and not adjustments.discreet_for(session, conversation.tenant_id)
        [adjustment] = adjustments.record(
            session,
            conversation.tenant_id,
            [kind],
            detail,
            recorded_by=officer.actor,
            consent_how=consent_how or "",
            now=now,
            # As when the tenant agrees by text: contact stays on the channel they used with us.
            settings={"channel": conversation.channel} if first_discreet else None,
        )
        if consent_how is None:
            # Not special-category and no consent asked: say so, rather than claim one was given.
            adjustment.consent_at, adjustment.consent_how = None, None
        session.flush()
        replan_for_tenant(session, conversation.tenant_id, settings, now)
        detail_ids = {"adjustment_id": adjustment.id, "kind": kind, "consent": consent_how is not None}
        audit.record(session, officer.id, "recorded_adjustment", now, conversation=conversation, detail=detail_ids)
    log.info("officer recorded a need", extra={"officer_id": officer.id, "adjustment_id": adjustment.id})
    flash(f"Noted: {need_kind(kind)}. Reminders and the operative's briefing now follow it.", "info")
    return _back_to(conversation_id)


@bp.post("/conversations/<int:conversation_id>/needs/<int:adjustment_id>/remove")
@requires_role(*CONVERSATION_ROLES)
def remove_need(conversation_id: int, adjustment_id: int):
    """Delete one need (and blank the message it was told in), e.g. when the tenant says it no longer applies."""
    officer, now, settings = current_officer(), runtime().clock(), runtime().settings
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        adjustment = session.get(Adjustment, adjustment_id)
        if (
            adjustment is None
            or conversation.tenant_id is None
            or adjustment.tenant_id != conversation.tenant_id
            or not adjustments.visible_to(officer.role, adjustment)
        ):
            abort(404)
        if not is_mine(conversation, officer):
            return _not_yours(conversation_id)
        if not access.may_manage_kind(officer.role, adjustment.kind):
            abort(403)
        kind = adjustment.kind
        adjustments.remove(session, adjustment)
        session.flush()
        replan_for_tenant(session, conversation.tenant_id, settings, now)
        detail_ids = {"adjustment_id": adjustment_id, "kind": kind}
        audit.record(session, officer.id, "removed_adjustment", now, conversation=conversation, detail=detail_ids)
    log.info("officer removed a need", extra={"officer_id": officer.id, "adjustment_id": adjustment_id})
    flash(f"Removed: {need_kind(kind)}.", "info")
    return _back_to(conversation_id)


@bp.post("/conversations/<int:conversation_id>/needs/erase")
@requires_role(*CONVERSATION_ROLES)
def erase_needs(conversation_id: int):
    """The tenant asked us to delete what we hold about their needs: every note, and the words they used."""
    officer, now, settings = current_officer(), runtime().clock(), runtime().settings
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            return _not_yours(conversation_id)
        if conversation.tenant_id is None:
            return _refused(conversation_id, "This number is not in our records: there is nothing to erase.")
        count = adjustments.erase(session, conversation.tenant_id)
        session.flush()
        replan_for_tenant(session, conversation.tenant_id, settings, now)
        audit.record(session, officer.id, "erased_needs", now, conversation=conversation, detail={"count": count})
    log.info("officer erased needs", extra={"officer_id": officer.id, "tenant_id": conversation.tenant_id})
    flash(f"Erased {count} note{'s' if count != 1 else ''} and the messages they were told in.", "info")
    return _back_to(conversation_id)


@bp.post("/conversations/<int:conversation_id>/verify-number")
@requires_role(*CONVERSATION_ROLES)
def verify_number(conversation_id: int):
    """The officer has checked that this number is the tenant's: visit details may now be sent to it."""
    officer, now = current_officer(), runtime().clock()
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            return _not_yours(conversation_id)
        tenant = conversation.tenant
        if tenant is None:
            return _refused(conversation_id, "This number is not in our records: it is no tenant's.")
        if tenant.phone_verified_at is not None:
            return _refused(conversation_id, "This number is already verified.")
        tenant.phone_verified_at = now
        # As when the tenant answers the check themselves: no question about it is left waiting.
        for each in session.scalars(select(Conversation).where(Conversation.tenant_id == tenant.id)):
            if (each.state or {}).get("identity_check"):
                each.state = {**each.state, "identity_check": None}
        audit.record(session, officer.id, "verified_number", now, conversation=conversation)
    log.info("officer verified a number", extra={"officer_id": officer.id, "tenant_id": conversation.tenant_id})
    flash("The number is marked as the tenant's. Visit details can be sent to it now.", "info")
    return _back_to(conversation_id)


def _not_yours(conversation_id: int):
    flash("Take over this conversation before acting on it.", "error")
    return _back_to(conversation_id)


def _refused(conversation_id: int, note: str):
    flash(note, "error")
    return _back_to(conversation_id)


def _back_to(conversation_id: int):
    return redirect(url_for("console.conversation", conversation_id=conversation_id) + "#needs")
