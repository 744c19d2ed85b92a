"""How the console's pages show times, waits and codes to an officer (in English, London time)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from service import i18n
from service.console.blueprint import bp

LONDON = ZoneInfo("Europe/London")
REASONS = {
    "asked_for_person": "Asked for a person",
    "not_understood": "Assistant did not understand",
    "contact_times": "Asks to be texted at other times",
    "officer_took_over": "Officer took over",
}
ACTIONS = {
    "signed_in": "Signed in",
    "signed_out": "Signed out",
    "officer_created": "Account created",
    "took_over": "Took over the conversation",
    "replied": "Replied",
    "confirmed_visit": "Confirmed a visit",
    "cancelled_visit": "Cancelled a visit",
    "moved_visit": "Moved a visit",
    "escalated": "Escalated to the specialist team",
    "handed_back": "Handed back to the assistant",
    "recorded_adjustment": "Recorded a need",
    "removed_adjustment": "Removed a need",
    "erased_needs": "Erased needs and safeguarding notes",
    "verified_number": "Marked the number verified",
    "recorded_case_action": "Recorded an action on a no-access case",
    "closed_case": "Closed a no-access case",
    "exported_evidence": "Downloaded an evidence record",
    "recorded_letter": "Recorded a letter sent about a visit",
}
# What each kind of need means, for an officer. The tenant's own words are shown beside it.
NEED_KINDS = {
    "no_calls": "Text only: no phone calls",
    "extra_time": "Needs extra time to get to the door",
    "support_person": "Wants their support person at visits",
    "interpreter": "Needs an interpreter",
    "female_operative": "Asked for a female operative",
    "extra_reminders": "Wants extra reminders",
    "call_before": "Wants a call before the visit",
    "plain_language": "Needs short, plain words",
    "discreet": "Discreet contact (safeguarding)",
    "other": "Another need: read the tenant's words",
}
# How a tenant agreed to a note being kept, as an officer records it; the sentence is what is stored.
CONSENT_WAYS = {
    "phone": "tenant agreed on a phone call",
    "in_person": "tenant agreed in person",
    "writing": "tenant agreed in writing",
    "text": "tenant agreed by text",
}
VISIT_EVENTS = {
    "booked": "Booked",
    "confirmed": "Confirmed",
    "cancelled": "Cancelled",
    "moved": "Moved",
    "completed": "Completed",
    "no_access": "No access: nobody let the operative in",
    "letter_sent": "Letter sent to the tenant",
}


def when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(LONDON).strftime("%a %d %b %Y, %H:%M")


def waited(since: datetime | None, now: datetime) -> str:
    """ "2 d 3 h", "1 h 5 min", "4 min": how long someone has been waiting."""
    if since is None:
        return ""
    minutes = max(int((now - since) / timedelta(minutes=1)), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def reason(code: str | None) -> str:
    return REASONS.get(code or "", (code or "").replace("_", " ").capitalize())


def action(code: str) -> str:
    return ACTIONS.get(code, code.replace("_", " ").capitalize())


def need_kind(code: str) -> str:
    return NEED_KINDS.get(code, code.replace("_", " ").capitalize())


def visit_event(code: str) -> str:
    return VISIT_EVENTS.get(code, code.replace("_", " ").capitalize())


def visit_type(code: str) -> str:
    return i18n.render(f"visit_type.{code}", "en")


def slot(start: datetime, end: datetime) -> str:
    return i18n.format_slot(start, end, "en")


@bp.context_processor
def display_helpers() -> dict:
    return {
        "when": when,
        "waited": waited,
        "reason_label": reason,
        "action_label": action,
        "visit_type_label": visit_type,
        "need_label": need_kind,
        "event_label": visit_event,
        "slot_label": slot,
    }
