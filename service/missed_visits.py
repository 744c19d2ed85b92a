"""Visits we missed, found after the slot: recorded as ours, apologised for with new times, told to the office.

Run with the reminders (`flask --app app reminders`). A visit counts as missed
when its slot ended a while ago (config `operatives.missed_after_minutes`) and
nobody reported arriving, finishing or finding no access; or when the operative
came well outside the slot (`operatives.arrival_margin_minutes`) and could not
get in. Only slots that ended in the last day are judged
(`operatives.missed_lookback_hours`), and `operatives.sweep_missed_visits: false`
turns this off where operatives do not yet report through the API. Each slot is
handled once, however often this runs, and is never counted as the tenant's
failed attempt.
"""

import logging
from datetime import datetime

from sqlalchemy import select

from service import adjustments, dialogue, i18n, identity, messaging, operatives, reminders
from store.db import transaction
from store.models import Conversation, OfficerTask, Visit

log = logging.getLogger(__name__)


def sweep(runtime, now: datetime) -> int:
    """Handle every visit we missed by `now`. Returns how many were newly recorded."""
    with transaction(runtime.sessions) as session:
        visit_ids = operatives.missed_visit_ids(session, now, runtime.settings)
    recorded = 0
    for visit_id in visit_ids:
        try:
            recorded += _handle(runtime, visit_id, now)
        except Exception:
            # One visit's bad data must not keep every other tenant waiting for their apology.
            log.exception("missed visit not handled", extra={"visit_id": visit_id})
    return recorded


def _handle(runtime, visit_id: int, now: datetime) -> bool:
    with transaction(runtime.sessions) as session:
        visit = session.scalar(select(Visit).where(Visit.id == visit_id).with_for_update())
        if not operatives.was_missed(visit, now, runtime.settings):
            return False  # the operative reported in meanwhile
        reason = _reason(visit, runtime.settings)
        if not operatives.record_missed(session, visit, "system", now, reason):
            return False
        conversation, message_id = _apologise(runtime, session, visit, now)
        told = "The tenant has been texted an apology." if message_id else "The tenant was not texted."
        session.add(
            OfficerTask(
                kind="missed_by_provider",
                tenant_id=visit.tenant_id,
                visit_id=visit.id,
                conversation_id=conversation.id if conversation else None,
                detail=f"{reason} {told} Please make sure a new time is booked.",
            )
        )
    if message_id:
        messaging.deliver(runtime, message_id)
    log.info("visit missed by provider", extra={"visit_id": visit_id, "tenant_texted": bool(message_id)})
    return True


def _reason(visit: Visit, settings) -> str:
    """For the office, in English: what went wrong, and that it was not the tenant."""
    slot = i18n.format_slot(visit.slot_start, visit.slot_end, "en")
    if visit.operative_status == "no_access" and operatives.arrived_outside_slot(visit, settings):
        arrived = i18n.format_clock(visit.arrived_at, "en")
        return (
            f"The operative came at {arrived}, well outside the slot ({slot}), and could not get in. "
            "This is not the tenant's failed attempt."
        )
    return f"Nobody came in the slot ({slot}) and no arrival was reported. This is not the tenant's failed attempt."


def _apologise(runtime, session, visit: Visit, now: datetime) -> tuple[Conversation | None, int | None]:
    """Store the apology with new times; (conversation, message id) to send after commit, or Nones."""
    tenant = visit.tenant
    if identity.must_check(runtime.settings, tenant):
        # We cannot be sure this number is the tenant's: it hears nothing about the visit.
        return None, None
    discreet = adjustments.discreet_for(session, tenant.id)
    if adjustments.silenced(discreet, now) or adjustments.within_safe_hours(discreet, now) > now:
        return None, None
    channel = reminders.channel_for(session, tenant, now, discreet)
    if channel is None:
        return None, None

    conversation = messaging.conversation_for(session, tenant.phone, channel)
    turn = dialogue.system_turn(session, runtime.settings, conversation, tenant, now)
    dialogue.apologise_for_missed_visit(turn, visit)
    # Several lines with a numbered list: never squeezed into a WhatsApp template, so no text_key.
    message = messaging.outbound(
        conversation, "\n".join(turn.replies), visit_id=visit.id, template_key="missed_by_provider"
    )
    session.add(message)
    session.flush()
    return conversation, message.id
