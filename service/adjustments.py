"""What a tenant needs for a visit to work, and what every part of the system does about it.

A tenant can say it at any point, in any language ("I'm deaf, please don't
ring", "I need my support worker there"). The phrases that reveal a need are
data (locales/<code>/need_words.yml) and are read in every language at once.
A need is kept only after the tenant agrees to a note being kept; then it
changes the reminder plan, the slot length, the wording, the operative's
briefing and who may see the tenant's record.

Only the kind of need drives behaviour. The tenant's own words are kept for
officers, never written to logs, and erased on request.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import regex
import yaml
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from service.i18n import LOCALES_DIR
from service.languages import fold, phrase_pattern
from store.models import Adjustment, Message, OfficerTask, Visit, VisitFeedback, VisitReason

log = logging.getLogger(__name__)
LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class Kind:
    # Health, disability or safeguarding: kept only with consent.
    special_category: bool
    # A person must arrange something, so the conversation goes to an officer.
    needs_person: bool
    # Shown only to safeguarding officers.
    restricted: bool = False
    # What the operative is told. Never the diagnosis, only what to do.
    briefing: str | None = None


KINDS = {
    "no_calls": Kind(
        special_category=True,
        needs_person=False,
        briefing="Knock loudly and wait: the tenant may not hear the bell. Contact them by text only, never a call.",
    ),
    "extra_time": Kind(
        special_category=True,
        needs_person=False,
        briefing="Wait at least 5 minutes at the door: the tenant needs time to reach it. The visit is booked longer.",
    ),
    "support_person": Kind(
        special_category=True,
        needs_person=True,
        briefing="The tenant's support person should be there: check they have arrived before you start.",
    ),
    "interpreter": Kind(
        special_category=False,
        needs_person=True,
        briefing="An interpreter is needed: check with the office that one is booked before you go.",
    ),
    "female_operative": Kind(
        special_category=False,
        needs_person=True,
        briefing="The tenant asked for a female operative.",
    ),
    "extra_reminders": Kind(special_category=True, needs_person=False),
    "call_before": Kind(special_category=True, needs_person=False),
    "plain_language": Kind(
        special_category=True,
        needs_person=False,
        briefing="Use short, plain words and explain each step before you do it.",
    ),
    "discreet": Kind(
        special_category=True,
        needs_person=True,
        restricted=True,
        briefing=(
            "Discreet visit: say nothing about the landlord, the visit or the tenant to anyone else at the "
            "address. Say the doorstep code."
        ),
    ),
    "other": Kind(
        special_category=True,
        needs_person=True,
        briefing="The tenant has told the office about a need: ask the office before you go.",
    ),
}

# Phrases in need_words.yml under this key ask us to delete what we hold, not a need.
ERASE = "erase"
DISCREET = "discreet"
SAFEGUARDING_ROLES = ("safeguarding",)
LOOKALIKES = str.maketrans({"ł": "l", "Ł": "l", "ı": "i", "ø": "o", "Ø": "o", "đ": "d", "ß": "ss", "\u200c": ""})
APOSTROPHES = regex.compile(r"['\u2019\u02bc\u2018`]")


def needs_in(text: str) -> list[str]:
    """The kinds of need a message names, in a stable order; an empty list if none."""
    folded = fold_for_matching(text)
    if not folded:
        return []
    return [kind for kind, pattern in _patterns().items() if kind != ERASE and pattern.search(folded)]


def asks_for_erasure(text: str) -> bool:
    folded = fold_for_matching(text)
    return bool(folded) and bool(_patterns()[ERASE].search(folded))


@lru_cache(maxsize=1)
def _patterns() -> dict:
    phrases: dict[str, set[str]] = {kind: set() for kind in (*KINDS, ERASE)}
    for path in sorted(LOCALES_DIR.glob("*/need_words.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for kind in phrases:
            folded = (fold_for_matching(str(phrase)) for phrase in data.get(kind) or [])
            phrases[kind].update(phrase for phrase in folded if phrase)
    # "other" is never matched by words: it is whatever a tenant tells us that fits no kind.
    phrases.pop("other")
    return {kind: phrase_pattern(found) for kind, found in phrases.items()}


def fold_for_matching(text: str) -> str:
    """Folded as a tenant types on a phone without their keyboard's letters.

    "can't" and "cant" are one word, so apostrophes go; letters that are not an
    accent plus a base letter (Polish ł, Turkish ı) become the letter people type
    instead; a Persian zero-width joiner is dropped.
    """
    plain = APOSTROPHES.sub("", text or "").translate(LOOKALIKES)
    return fold(plain)


def active(session: Session, tenant_id: int) -> list[Adjustment]:
    return list(session.scalars(select(Adjustment).where(Adjustment.tenant_id == tenant_id).order_by(Adjustment.id)))


def kinds_for(session: Session, tenant_id: int) -> set[str]:
    return set(session.scalars(select(Adjustment.kind).where(Adjustment.tenant_id == tenant_id)))


def record(
    session: Session,
    tenant_id: int,
    kinds: list[str],
    detail: str,
    *,
    recorded_by: str,
    consent_how: str,
    now: datetime,
    message_id: int | None = None,
    settings: dict | None = None,
) -> list[Adjustment]:
    """Store each need once; a kind the tenant already has gets the newer words."""
    existing = {adjustment.kind: adjustment for adjustment in active(session, tenant_id)}
    stored = []
    for kind in dict.fromkeys(kinds):
        meta = KINDS[kind]
        adjustment = existing.get(kind) or Adjustment(tenant_id=tenant_id, kind=kind)
        adjustment.detail = detail
        adjustment.settings = {**(adjustment.settings or {}), **(settings or {})}
        adjustment.special_category = meta.special_category
        adjustment.restricted = meta.restricted
        adjustment.consent_at, adjustment.consent_how = now, consent_how
        adjustment.recorded_by, adjustment.recorded_at, adjustment.message_id = recorded_by, now, message_id
        session.add(adjustment)
        stored.append(adjustment)
    session.flush()
    # Ids and kinds only: the tenant's words never reach a log.
    log.info("adjustments recorded", extra={"tenant_id": tenant_id, "kinds": sorted(kinds)})
    return stored


def remove(session: Session, adjustment: Adjustment) -> None:
    _redact_source(session, [adjustment])
    session.delete(adjustment)


def erase(session: Session, tenant_id: int) -> int:
    """Delete every need we hold for the tenant, and blank the messages they were told in.

    Discreet contact is kept, without the tenant's words: ending it would send the
    next reminder in full to a phone someone else may read. A safeguarding officer
    ends it with the tenant, never a text that may not be theirs.
    """
    adjustments = active(session, tenant_id)
    _redact_source(session, adjustments)
    for adjustment in adjustments:
        if adjustment.kind == DISCREET:
            adjustment.detail, adjustment.message_id = "", None
    session.execute(delete(Adjustment).where(Adjustment.tenant_id == tenant_id, Adjustment.kind != DISCREET))
    session.execute(
        update(OfficerTask)
        .where(OfficerTask.tenant_id == tenant_id, OfficerTask.kind.in_(("adjustment", "safeguarding")))
        .values(detail="(erased at the tenant's request)")
    )
    # Why visits did not suit and how they went, in the tenant's words: the categories and scores stay.
    session.execute(update(VisitReason).where(VisitReason.tenant_id == tenant_id).values(words=""))
    session.execute(update(VisitFeedback).where(VisitFeedback.tenant_id == tenant_id).values(words=None))
    log.info("adjustments erased", extra={"tenant_id": tenant_id, "count": len(adjustments)})
    return len(adjustments)


def _redact_source(session: Session, adjustments: list[Adjustment]) -> None:
    message_ids = {adjustment.message_id for adjustment in adjustments if adjustment.message_id}
    if message_ids:
        session.execute(
            update(Message).where(Message.id.in_(message_ids)).values(body="(erased at the tenant's request)", raw={})
        )


def visible_to(role: str, adjustment: Adjustment) -> bool:
    return not adjustment.restricted or role in SAFEGUARDING_ROLES


def briefing_for(session: Session, visit: Visit) -> list[str]:
    """What the operative needs to know at the door, in the order of the kinds above."""
    kinds = kinds_for(session, visit.tenant_id)
    return [meta.briefing for kind, meta in KINDS.items() if kind in kinds and meta.briefing]


def slot_minutes(session: Session, tenant_id: int, minutes: int, config: dict) -> int:
    """A tenant who needs more time at the door gets a longer slot."""
    if "extra_time" in kinds_for(session, tenant_id):
        return int(round(minutes * float(config.get("longer_slot_factor", 1.5)) / 15.0) * 15)
    return minutes


def extra_reminder_steps(session: Session, tenant_id: int, config: dict) -> list[dict]:
    """Reminder plan steps a tenant's needs add to the default plan."""
    kinds = kinds_for(session, tenant_id)
    steps = []
    if "extra_reminders" in kinds:
        steps.extend(config.get("extra_reminders") or [])
    if "call_before" in kinds and "no_calls" not in kinds:
        steps.extend(config.get("call_before") or [])
    return steps


def discreet_for(session: Session, tenant_id: int) -> Adjustment | None:
    return session.scalar(select(Adjustment).where(Adjustment.tenant_id == tenant_id, Adjustment.kind == DISCREET))


def is_exit_word(adjustment: Adjustment | None, text: str) -> bool:
    word = (adjustment.settings or {}).get("exit_word") if adjustment else None
    return bool(word) and fold_for_matching(text) == word


def silenced(adjustment: Adjustment | None, now: datetime) -> bool:
    """After the tenant's exit word nothing automatic goes out for a while."""
    until = (adjustment.settings or {}).get("silenced_until") if adjustment else None
    return bool(until) and now < datetime.fromisoformat(until)


def within_safe_hours(adjustment: Adjustment | None, due: datetime, before: datetime | None = None) -> datetime:
    """The first safe moment at or after `due`, in the hours the tenant chose.

    If that would be too late (at or after `before`, the visit), the start of
    the last safe window before `due` instead: a reminder for the evening
    before goes out earlier that day rather than not at all.
    """
    hours = (adjustment.settings or {}).get("safe_hours") if adjustment else None
    if not hours:
        return due
    opens, closes = time.fromisoformat(hours[0]), time.fromisoformat(hours[1])
    local = due.astimezone(LONDON)
    if _inside(local.time(), opens, closes):
        return due

    day = local.date() if local.time() < opens else local.date() + timedelta(days=1)
    later = datetime.combine(day, opens, LONDON).astimezone(due.tzinfo)
    if before is None or later < before:
        return later
    earlier_day = local.date() if local.time() >= opens else local.date() - timedelta(days=1)
    return datetime.combine(earlier_day, opens, LONDON).astimezone(due.tzinfo)


def _inside(clock: time, opens: time, closes: time) -> bool:
    if opens < closes:
        return opens <= clock < closes
    return not closes <= clock < opens  # a window across midnight
