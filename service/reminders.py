"""Sending the reminders that are due, each exactly once."""

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import select, update

from service import adjustments, i18n, identity, messaging, whatsapp
from service.dialogue import question_about
from service.visits import operative_name
from store.db import transaction
from store.models import OfficerTask, Reminder, Tenant, Visit

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

    to_send, latest_per_visit = [], set()
    for reminder_id, visit_id, kind in due:
        # A call the tenant asked for is a task for a person, never superseded by a text.
        if kind != OFFICER_CALL:
            if visit_id in latest_per_visit:
                counts["skipped"] += _skip(runtime, reminder_id, "superseded")
                continue
            latest_per_visit.add(visit_id)
        to_send.append(reminder_id)

    # Sends overlap (most of a send is waiting for Twilio); each one is still claimed on its own.
    workers = max(1, int(runtime.settings.section("reminders").get("send_workers", 4)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reminders") as pool:
        for outcome in pool.map(lambda reminder_id: _send_safely(runtime, reminder_id, now), to_send):
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _send_safely(runtime, reminder_id: int, now: datetime) -> str:
    try:
        return _send_one(runtime, reminder_id, now)
    except Exception:
        # One tenant's bad data must not stop everyone else's reminders.
        log.exception("reminder failed", extra={"reminder_id": reminder_id})
        return _mark_failed(runtime, reminder_id)


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
        if reminder.kind != OFFICER_CALL and _newer_one_due(session, reminder, now):
            # Another process may have read the due list after the newer one was claimed:
            # deciding here, after our own claim, keeps "only the latest" true under concurrency.
            return _skipped(reminder, "superseded")
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
        channel = channel_for(session, tenant, now, discreet)
        if channel is None:
            return _skipped(reminder, "no channel")

        conversation = messaging.conversation_for(session, tenant.phone, channel)
        text_key, values = _wording(session, runtime.settings, reminder, visit, tenant, discreet)
        locale = i18n.normalise_locale(tenant.language)
        message = messaging.outbound(
            conversation,
            i18n.render(text_key, locale, **values),
            visit_id=visit.id,
            template_key=f"reminder.{reminder.kind}",
            # Kept so the same words can go as an approved WhatsApp template outside the 24-hour window.
            raw={"text_key": text_key, "variables": values},
        )
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

    if runtime.settings.scaled:
        # Scaled mode: stored and queued; the job workers hand it to Twilio, many at once.
        runtime.worker.submit_delivery(message_id)
        return "queued"
    # A send that failed is already recorded on the message, with a task for an officer.
    return "sent" if messaging.deliver(runtime, message_id) else "not_sent"


def _newer_one_due(session, reminder: Reminder, now: datetime) -> bool:
    newer = session.scalar(
        select(Reminder.id)
        .where(
            Reminder.visit_id == reminder.visit_id,
            Reminder.id != reminder.id,
            Reminder.kind != OFFICER_CALL,
            Reminder.due_at > reminder.due_at,
            Reminder.due_at <= now,
            Reminder.status.in_(("pending", "sending", "sent")),
        )
        .limit(1)
    )
    return newer is not None


def _skipped(reminder: Reminder, reason: str) -> str:
    reminder.status = "skipped"
    log.info("reminder skipped", extra={"reminder_id": reminder.id, "visit_id": reminder.visit_id, "reason": reason})
    return "skipped"


def _wording(session, settings, reminder: Reminder, visit: Visit, tenant: Tenant, discreet) -> tuple[str, dict]:
    """Which reminder text, and its values: what the number may be told, in the way this tenant needs."""
    locale = i18n.normalise_locale(tenant.language)
    if identity.must_check(settings, tenant):
        return "reminder_unverified", {}

    slot = i18n.format_slot(visit.slot_start, visit.slot_end, locale)
    day_before = reminder.kind == DAY_BEFORE
    values = {"slot": slot}
    if day_before:
        # The day before names who is coming and the code they will say at the door.
        values.update(operative=operative_name(visit, locale), code=identity.doorstep_code(visit))
    if discreet:
        return ("reminder_discreet_day_before" if day_before else "reminder_discreet"), values

    values.update(name=tenant.name.split()[0], visit=i18n.render(f"visit_type.{visit.visit_type}", locale))
    if day_before:
        return "reminder_day_before", values
    if "plain_language" in adjustments.kinds_for(session, tenant.id):
        return "reminder_plain", values
    # Already confirmed: no need to ask for a yes again.
    return ("reminder_confirmed" if visit.status == "confirmed" else "reminder"), values


def channel_for(session, tenant: Tenant, now: datetime, discreet=None) -> str | None:
    """The tenant's preferred channel, or SMS; None if opted out of both.

    In discreet contact only the channel the tenant chose is used, or none: a
    closed WhatsApp window there means no message, never a switch to SMS.
    """
    safe_channel = (discreet.settings or {}).get("channel") if discreet else None
    if safe_channel:
        opted_out = tenant.whatsapp_opted_out if safe_channel == "whatsapp" else tenant.sms_opted_out
        window_shut = safe_channel == "whatsapp" and not whatsapp.window_open(session, tenant.id, tenant.phone, now)
        if opted_out or window_shut:
            return None
        return safe_channel
    if tenant.whatsapp and tenant.preferred_channel == "whatsapp" and not tenant.whatsapp_opted_out:
        # Outside the 24-hour window delivery sends an approved template, or SMS if there is none.
        return "whatsapp"
    return None if tenant.sms_opted_out else "sms"
