"""An operative's report applied to the visit, and the tenant told: "on my way" and "running late" texts.

The text goes the way every message we start goes (stored, then handed to
Twilio after commit; opt-outs are honoured by messaging.deliver), on the channel
a reminder would use. What the tenant is told follows what we already know
about them: nothing about a visit to a number not yet checked, and for discreet
contact no visit type, only at safe times and never after their exit word.
A finished visit brings one optional question on how it went, under the same
rules and never in the quiet hours (the answer is read in service/satisfaction.py).
"""

from datetime import datetime, timedelta

from sqlalchemy import func, select

from service import adjustments, i18n, identity, messaging, no_access, operatives, reminders, satisfaction, visits
from service.dialogue import question_about
from service.visits import operative_name
from store.db import transaction
from store.models import Message, Visit, VisitFeedback

MAX_LATE_TEXTS = 3


class UnknownVisit(LookupError):
    """No visit has that reference."""


class NotToday(ValueError):
    """A report for a visit whose slot is not within the day: a slip of the operative's app."""


def report(runtime, reference: str, report: operatives.Report, key_name: str) -> dict:
    """Record the report, text the tenant when there is news, and say what now stands."""
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        visit = session.scalar(select(Visit).where(Visit.reference == reference).with_for_update())
        if visit is None:
            raise UnknownVisit(reference)
        if not _slot_is_near(visit, now, runtime.settings) or not _at_the_door_today(visit, report, now):
            # Days away from the slot is a slip of the app (or a visit moved since): recording an
            # arrival or a finish then would close or blame a visit nobody has been to yet.
            slot = i18n.format_slot(visit.slot_start, visit.slot_end, "en")
            raise NotToday(f"this visit is booked for {slot}: report on the day, or call the office")
        # Known before the report closes the visit: an agreed visit is a pre-booked attempt.
        booked_as_confirmed = visit.status == "confirmed"
        actor = f"operative:{key_name}"
        text_key = operatives.apply_report(session, visit, report, actor, now, runtime.settings)
        message_id = _text_tenant(runtime, session, visit, text_key, now) if text_key else None
        if report.status == "no_access" and visit.status == "no_access":
            # In the slot and nobody let them in: an attempt, followed up by the no-access policy.
            attempt = no_access.record_attempt(
                session, visit, report, actor, now, runtime.settings, booked_as_confirmed=booked_as_confirmed
            )
            message_id = no_access.follow_up(runtime, session, attempt, now)
        if report.status == "finished" and visit.status == "completed":
            message_id = ask_how_it_went(runtime, session, visit, now)
        visit_id = visit.id

    # After commit, like reminders: a failed send is recorded on the message, with a task for an officer.
    texted = messaging.deliver(runtime, message_id) if message_id else False
    return {"visit_id": visit_id, "tenant_texted": texted}


def _at_the_door_today(visit: Visit, report: operatives.Report, now: datetime) -> bool:
    """Arrived, finished or no access only from the slot's own day (London time), not the evening before."""
    if report.status in operatives.ON_THE_WAY:
        return True
    return now.astimezone(operatives.LONDON).date() >= visit.slot_start.astimezone(operatives.LONDON).date()


def _slot_is_near(visit: Visit, now: datetime, settings) -> bool:
    """The slot starts within the hours an ETA may look ahead, or is already under way."""
    ahead = timedelta(hours=operatives.config(settings)["eta_max_hours"])
    return visit.slot_start - ahead <= now <= visit.slot_end + ahead


def tracking_url(runtime, visit: Visit) -> str:
    return f"{runtime.base_url.rstrip('/')}/track/{operatives.tracking_token(visit)}"


def _text_tenant(runtime, session, visit: Visit, text_key: str, now: datetime) -> int | None:
    """Store the tenant's text about the operative; its id, to send after commit, or None if none may go."""
    tenant = visit.tenant
    if text_key == "running_late" and _late_texts_sent(session, visit) >= MAX_LATE_TEXTS:
        # An app flipping between ETAs must not flood the tenant; the tracking page still shows the latest.
        return None
    if identity.must_check(runtime.settings, tenant):
        # We cannot be sure this number is the tenant's: it hears nothing about the visit.
        return None
    discreet = adjustments.discreet_for(session, tenant.id)
    if adjustments.silenced(discreet, now) or adjustments.within_safe_hours(discreet, now) > now:
        return None
    channel = reminders.channel_for(session, tenant, now, discreet)
    if channel is None:
        return None

    locale = i18n.normalise_locale(tenant.language)
    values = _values(runtime, visit, text_key, locale, discreet=discreet is not None)
    conversation = messaging.conversation_for(session, tenant.phone, channel)
    message = messaging.outbound(
        conversation,
        i18n.render(text_key, locale, **values),
        visit_id=visit.id,
        template_key=text_key,
        # Kept so the same words can go as an approved WhatsApp template outside the 24-hour window.
        raw={"text_key": text_key, "variables": values},
    )
    session.add(message)
    session.flush()
    # A reply ("I'm not in") is about this visit, whichever visit was talked about before.
    conversation.state = {**(conversation.state or {}), "visit_id": visit.id}
    return message.id


def ask_how_it_went(runtime, session, visit: Visit, now: datetime) -> int | None:
    """The one optional question after a completed visit; its message id, to send after commit, or None.

    Only when it can go safely now, like the texts above, and never in the quiet
    hours: it is optional, so one that cannot go now does not go at all.
    """
    tenant = visit.tenant
    if session.scalar(select(VisitFeedback.id).where(VisitFeedback.visit_id == visit.id)):
        return None
    if identity.must_check(runtime.settings, tenant):
        return None
    discreet = adjustments.discreet_for(session, tenant.id)
    if not _safe_to_ask(runtime.settings, discreet, now):
        return None
    channel = reminders.channel_for(session, tenant, now, discreet)
    if channel is None:
        return None
    conversation = messaging.conversation_for(session, tenant.phone, channel)
    if _other_question_open(session, conversation, visit):
        # Never push aside a question about another booking the tenant may still answer.
        return None

    # Discreet contact: neutral words that name no visit and no landlord.
    key = f"{satisfaction.QUESTION}_discreet" if discreet else satisfaction.QUESTION
    message = messaging.outbound(
        conversation,
        i18n.render(key, i18n.normalise_locale(tenant.language)),
        visit_id=visit.id,
        template_key=key,
        raw={"text_key": key, "variables": {}},
    )
    session.add(message)
    session.flush()

    feedback = VisitFeedback(visit_id=visit.id, tenant_id=tenant.id, asked_at=now, question_message_id=message.id)
    session.add(feedback)
    session.flush()
    pending = {**question_about(visit, satisfaction.QUESTION, now), "feedback_id": feedback.id}
    conversation.state = {**(conversation.state or {}), "pending": pending, "visit_id": visit.id}
    return message.id


def _safe_to_ask(settings, discreet, now: datetime) -> bool:
    """Outside the quiet hours and, for discreet contact, inside the tenant's safe hours and not silenced."""
    quiet = settings.section("reminders").get("quiet_hours") or {}
    if visits.outside_quiet_hours(now, quiet) != now:
        return False
    return not adjustments.silenced(discreet, now) and adjustments.within_safe_hours(discreet, now) == now


def _other_question_open(session, conversation, visit: Visit) -> bool:
    pending = (conversation.state or {}).get("pending") or {}
    other_id = pending.get("visit_id")
    if not pending.get("kind") or other_id in (None, visit.id):
        return False
    other = session.get(Visit, other_id)
    return other is not None and other.is_open


def _late_texts_sent(session, visit: Visit) -> int:
    return session.scalar(
        select(func.count(Message.id)).where(Message.visit_id == visit.id, Message.template_key == "running_late")
    )


def _values(runtime, visit: Visit, text_key: str, locale: str, discreet: bool) -> dict:
    # In discreet contact a message never says what the visit is for.
    values = {
        "operative": operative_name(visit, locale),
        "visit": i18n.render(f"visit_type.{'discreet' if discreet else visit.visit_type}", locale),
        "eta": i18n.format_clock(visit.eta, locale),
        "link": tracking_url(runtime, visit),
    }
    if text_key == "on_my_way":
        values["code"] = identity.doorstep_code(visit)
    return values
