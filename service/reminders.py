"""Sending the reminders that are due, each exactly once."""

import logging
from datetime import datetime

from sqlalchemy import select, update

from service import adjustments, i18n, identity, messaging
from service.dialogue import question_about
from store.db import transaction
from store.models import Conversation, OfficerTask, Reminder, Tenant, Visit

log = logging.getLogger(__name__)
DAY_BEFORE = "evening_before"
OFFICER_CALL = "officer_call"
CALL_NOTE = "The tenant asked for a phone call the day before each visit. Please ring them today."


def send_due_reminders(runtime, now: datetime) -> dict:
    """Claim, render, store and send every reminder due by `now`.

    Claiming is one conditional UPDATE per reminder, so two processes running
    this at once never both send it. A reminder whose visit has already started,
    or has been cancelled or moved, is skipped; of several missed while the
    service was down, only the latest is sent.
    """
    counts = {"sent": 0, "skipped": 0}
    with transaction(runtime.sessions) as session:
        due = session.execute(
            select(Reminder.id, Reminder.visit_id, Reminder.kind)
            .where(Reminder.status == "pending", Reminder.due_at <= now)
            .order_by(Reminder.visit_id, Reminder.due_at.desc())
        ).all()

    latest_per_visit = set()
    for reminder_id, visit_id, kind in due:
        # A call the tenant asked for is a task for a person, never superseded by a text.
        if kind != OFFICER_CALL:
            if visit_id in latest_per_visit:
                counts["skipped"] += _skip(runtime, reminder_id, "superseded")
                continue
            latest_per_visit.add(visit_id)
        try:
            outcome = _send_one(runtime, reminder_id, now)
        except Exception:
            # One tenant's bad data must not stop everyone else's reminders.
            log.exception("reminder failed", extra={"reminder_id": reminder_id})
            outcome = _mark_failed(runtime, reminder_id)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _mark_failed(runtime, reminder_id: int) -> str:
    with transaction(runtime.sessions) as session:
        session.execute(update(Reminder).where(Reminder.id == reminder_id).values(status="failed"))
    return "failed"


def _skip(runtime, reminder_id: int, reason: str) -> int:
    with transaction(runtime.sessions) as session:
        skipped = session.execute(
            update(Reminder).where(Reminder.id == reminder_id, Reminder.status == "pending").values(status="skipped")
        ).rowcount
    if skipped:
        log.info("reminder skipped", extra={"reminder_id": reminder_id, "reason": reason})
    return skipped


def _send_one(runtime, reminder_id: int, now: datetime) -> str:
    with transaction(runtime.sessions) as session:
        claimed = session.execute(
            update(Reminder).where(Reminder.id == reminder_id, Reminder.status == "pending").values(status="sending")
        ).rowcount
        if not claimed:
            return "claimed_elsewhere"
        reminder = session.get(Reminder, reminder_id)
        visit = session.get(Visit, reminder.visit_id)
        tenant = session.get(Tenant, visit.tenant_id)
        discreet = adjustments.discreet_for(session, tenant.id)

        if not visit.is_open or visit.slot_start <= now:
            return _skipped(reminder, "visit no longer ahead")
        if reminder.kind == OFFICER_CALL:
            # Not a text: the tenant asked for a phone call from a person the day before.
            session.add(OfficerTask(kind="call_before_visit", tenant_id=tenant.id, visit_id=visit.id, detail=CALL_NOTE))
            reminder.status, reminder.sent_at = "sent", now
            return "task"
        if adjustments.silenced(discreet, now):
            return _skipped(reminder, "tenant used their exit word")
        safe_from = adjustments.within_safe_hours(discreet, now)
        if safe_from > now:
            # Missed while we were down, and now outside the hours the tenant said are safe.
            reminder.status, reminder.due_at = "pending", safe_from
            return "postponed"
        channel = _channel_for(session, tenant, now, discreet)
        if channel is None:
            return _skipped(reminder, "no channel")

        conversation = messaging.conversation_for(session, tenant.phone, channel)
        body = _render(session, runtime.settings, reminder, visit, tenant, discreet)
        message = messaging.outbound(conversation, body, visit_id=visit.id, template_key=f"reminder.{reminder.kind}")
        session.add(message)
        session.flush()
        reminder.status, reminder.sent_at, reminder.message_id = "sent", now, message.id
        if identity.must_check(runtime.settings, tenant):
            # The reminder said nothing about the visit; the tenant's answer is read as the check.
            identity.start_check(conversation, now)
        else:
            # A "yes" to this reminder, however late, confirms this visit (BR-21).
            conversation.state = {
                **(conversation.state or {}),
                "visit_id": visit.id,
                "pending": question_about(visit, "confirm_visit", now),
            }
        message_id = message.id

    # A send that failed is already recorded on the message, with a task for an officer.
    return "sent" if messaging.deliver(runtime, message_id) else "not_sent"


def _skipped(reminder: Reminder, reason: str) -> str:
    reminder.status = "skipped"
    log.info("reminder skipped", extra={"reminder_id": reminder.id, "visit_id": reminder.visit_id, "reason": reason})
    return "skipped"


def _render(session, settings, reminder: Reminder, visit: Visit, tenant: Tenant, discreet) -> str:
    """The reminder's words: what the number may be told, in the way this tenant needs."""
    locale = i18n.normalise_locale(tenant.language)
    if identity.must_check(settings, tenant):
        return i18n.render("reminder_unverified", locale)

    slot = i18n.format_slot(visit.slot_start, visit.slot_end, locale)
    day_before = reminder.kind == DAY_BEFORE
    values = {"slot": slot}
    if day_before:
        # The day before names who is coming and the code they will say at the door.
        operative = visit.operative.first_name if visit.operative else i18n.render("operative_unknown", locale)
        values.update(operative=operative, code=identity.doorstep_code(visit))
    if discreet:
        return i18n.render("reminder_discreet_day_before" if day_before else "reminder_discreet", locale, **values)

    values.update(name=tenant.name.split()[0], visit=i18n.render(f"visit_type.{visit.visit_type}", locale))
    if day_before:
        return i18n.render("reminder_day_before", locale, **values)
    if "plain_language" in adjustments.kinds_for(session, tenant.id):
        return i18n.render("reminder_plain", locale, **values)
    return i18n.render("reminder", locale, **values)


def _channel_for(session, tenant: Tenant, now: datetime, discreet=None) -> str | None:
    """WhatsApp only while its 24-hour window is open; otherwise SMS. None if opted out of both.

    In discreet contact only the channel the tenant chose is used, or none.
    """
    safe_channel = (discreet.settings or {}).get("channel") if discreet else None
    if safe_channel:
        opted_out = tenant.whatsapp_opted_out if safe_channel == "whatsapp" else tenant.sms_opted_out
        if opted_out or (safe_channel == "whatsapp" and not _whatsapp_open(session, tenant, now)):
            return None
        return safe_channel
    if tenant.whatsapp and tenant.preferred_channel == "whatsapp" and not tenant.whatsapp_opted_out:
        if _whatsapp_open(session, tenant, now):
            return "whatsapp"
    return None if tenant.sms_opted_out else "sms"


def _whatsapp_open(session, tenant: Tenant, now: datetime) -> bool:
    last_inbound = session.scalar(
        select(Conversation.last_inbound_at).where(
            Conversation.tenant_id == tenant.id, Conversation.channel == "whatsapp"
        )
    )
    return bool(last_inbound) and (now - last_inbound).total_seconds() < 24 * 3600
