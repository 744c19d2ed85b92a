"""Sending the reminders that are due, each exactly once."""

import logging
from datetime import datetime

from sqlalchemy import select, update

from service import i18n, messaging
from service.dialogue import question_about
from store.db import transaction
from store.models import Conversation, Reminder, Tenant, Visit

log = logging.getLogger(__name__)


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
            select(Reminder.id, Reminder.visit_id)
            .where(Reminder.status == "pending", Reminder.due_at <= now)
            .order_by(Reminder.visit_id, Reminder.due_at.desc())
        ).all()

    latest_per_visit = set()
    for reminder_id, visit_id in due:
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
        channel = _channel_for(session, tenant, now)

        if not visit.is_open or visit.slot_start <= now or channel is None:
            reminder.status = "skipped"
            log.info("reminder skipped", extra={"reminder_id": reminder_id, "visit_id": visit.id})
            return "skipped"

        conversation = messaging.conversation_for(session, tenant.phone, channel)
        locale = i18n.normalise_locale(tenant.language)
        body = i18n.render(
            "reminder",
            locale,
            name=tenant.name.split()[0],
            visit=i18n.render(f"visit_type.{visit.visit_type}", locale),
            slot=i18n.format_slot(visit.slot_start, visit.slot_end, locale),
        )
        message = messaging.outbound(conversation, body, visit_id=visit.id, template_key=f"reminder.{reminder.kind}")
        session.add(message)
        session.flush()
        reminder.status, reminder.sent_at, reminder.message_id = "sent", now, message.id
        # A "yes" to this reminder, however late, confirms this visit (BR-21).
        conversation.state = {
            **(conversation.state or {}),
            "visit_id": visit.id,
            "pending": question_about(visit, "confirm_visit", now),
        }
        message_id = message.id

    # A send that failed is already recorded on the message, with a task for an officer.
    return "sent" if messaging.deliver(runtime, message_id) else "not_sent"


def _channel_for(session, tenant: Tenant, now: datetime) -> str | None:
    """WhatsApp only while its 24-hour window is open; otherwise SMS. None if opted out of both."""
    if tenant.whatsapp and tenant.preferred_channel == "whatsapp" and not tenant.whatsapp_opted_out:
        last_inbound = session.scalar(
            select(Conversation.last_inbound_at).where(
                Conversation.tenant_id == tenant.id, Conversation.channel == "whatsapp"
            )
        )
        if last_inbound and (now - last_inbound).total_seconds() < 24 * 3600:
            return "whatsapp"
    return None if tenant.sms_opted_out else "sms"
