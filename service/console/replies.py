"""Ready-made replies from the assistant's own catalog, in the tenant's language.

Officers reuse sentences that already have reviewed translations rather than
typing English to a tenant who reads Polish; the English is shown beside each
so the officer knows what they are sending.
"""

from dataclasses import dataclass

from sqlalchemy.orm import object_session

from service import adjustments, i18n
from store.models import Visit

# Offered on every conversation; the visit ones once per open visit.
GENERAL_KEYS = ("thanks", "ask_new_time")
VISIT_KEYS = ("when_answer",)
# Suggested after the officer changes a visit, so the tenant hears about it in their own words.
AFTER_ACTION_KEYS = ("confirmed", "cancelled", "moved")
LABELS = {
    "thanks": "You're welcome",
    "ask_new_time": "Ask for a better time",
    "when_answer": "When the visit is",
    "confirmed": "Visit confirmed",
    "cancelled": "Visit cancelled",
    "moved": "Visit moved",
}


@dataclass(frozen=True)
class CannedReply:
    key: str
    visit_id: int | None
    label: str
    text: str  # in the tenant's language
    english: str


def canned_replies(visits: list[Visit], locale: str) -> list[CannedReply]:
    replies = [canned_reply(key, None, locale) for key in GENERAL_KEYS]
    for visit in visits:
        if visit.is_open:
            replies.extend(canned_reply(key, visit, locale) for key in VISIT_KEYS)
    return replies


def canned_reply(key: str, visit: Visit | None, locale: str) -> CannedReply | None:
    """The reply `key` about `visit`, or None when the key is unknown or needs a visit it lacks."""
    needs_visit = key in VISIT_KEYS or key in AFTER_ACTION_KEYS
    if key not in LABELS or (needs_visit and visit is None):
        return None
    label = LABELS[key]
    if needs_visit:
        label = f"{label}: {describe(visit, 'en')['visit']}"
    values = describe(visit, locale) if needs_visit else {}
    english_values = describe(visit, "en") if needs_visit else {}
    return CannedReply(
        key=key,
        visit_id=visit.id if needs_visit else None,
        label=label,
        text=i18n.render(key, locale, **values),
        english=i18n.render(key, "en", **english_values),
    )


def describe(visit: Visit, locale: str) -> dict:
    """The same words the assistant uses for a visit (as dialogue.Turn.describe), discreet ones included."""
    discreet = adjustments.discreet_for(object_session(visit), visit.tenant_id) if object_session(visit) else None
    return {
        "visit": i18n.render(f"visit_type.{'discreet' if discreet else visit.visit_type}", locale),
        "slot": i18n.format_slot(visit.slot_start, visit.slot_end, locale),
    }
