"""Identity both ways: is this number really the tenant's, and is the person at the door really ours?

A number on the tenant record may be old, shared or recycled, so until the
tenant answers a light check (the first line of their address or their
postcode) nothing about a visit is sent to it. In the other direction, each
booked slot carries a one-time doorstep code that the operative says at the
door, and a tenant can ask "someone is at my door, is it you?" at any time.
"""

import secrets
from datetime import datetime, timedelta

import regex
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.languages import fold
from store.models import OPEN_VISIT_STATUSES, Conversation, Property, Tenant, Visit

# Words in the first line of an address that say nothing about which home it is.
STREET_WORDS = {
    "road", "rd", "street", "st", "lane", "ln", "avenue", "ave", "close", "drive", "dr", "way", "place",
    "court", "crescent", "gardens", "grove", "terrace", "walk", "flat", "house", "the", "and", "apartment",
}  # fmt: skip
# An answer to "what is the first line of your address?" is a few words, not a list of guesses.
MAX_ANSWER_WORDS = 8
# Someone at the door this long before the slot opens, or after it closes, still counts as that visit.
DOOR_MARGIN = timedelta(hours=1)
# Operative reports (taken only on the visit's day) after which whoever knocks may be ours,
# even before the slot opens.
OPERATIVE_COMING = ("on_my_way", "running_late", "arrived")


def must_check(settings, tenant: Tenant | None) -> bool:
    identity = settings.section("identity")
    return bool(tenant) and identity.get("check_unverified_numbers", True) and tenant.phone_verified_at is None


def start_check(conversation: Conversation, now: datetime) -> None:
    """Note that we have asked, so the next message is read as the answer."""
    conversation.state = {**(conversation.state or {}), "identity_check": {"asked_at": now.isoformat(), "tries": 0}}


def answer_check(session: Session, settings, conversation: Conversation, tenant: Tenant, text: str, now) -> str:
    """Read a message from an unverified number: 'asked', 'verified', 'retry' or 'failed'."""
    check = (conversation.state or {}).get("identity_check")
    if not check:
        start_check(conversation, now)
        return "asked"
    homes = list(session.scalars(select(Property).where(Property.tenant_id == tenant.id)))
    if any(matches_home(text, home) for home in homes):
        tenant.phone_verified_at = now
        conversation.state = {**conversation.state, "identity_check": None}
        return "verified"
    tries = check.get("tries", 0) + 1
    conversation.state = {**conversation.state, "identity_check": {**check, "tries": tries}}
    # Tries on the tenant's other channel count too: two channels must not mean twice the guesses.
    elsewhere = session.scalars(
        select(Conversation.state).where(Conversation.tenant_id == tenant.id, Conversation.id != conversation.id)
    )
    tries += sum(((state or {}).get("identity_check") or {}).get("tries", 0) for state in elsewhere)
    return "failed" if tries >= settings.section("identity").get("check_attempts", 3) else "retry"


def matches_home(text: str, home: Property) -> bool:
    """The postcode, or the first line of the address, and nothing much else.

    A short answer only: a message listing many numbers, streets or postcodes
    is a guess at every address at once, not an answer, and never passes.
    """
    said = fold(text)
    words = said.split()
    if not words or len(words) > MAX_ANSWER_WORDS:
        return False
    postcode_words = fold(home.postcode).split()
    postcode = "".join(postcode_words)
    # The postcode alone: every part of the answer with a digit in it, together, is the postcode.
    with_digits = "".join(word for word in words if any(ch.isdigit() for ch in word))
    if len(postcode) >= 5 and with_digits == postcode:
        return True

    known = set(fold(f"{home.address_line1} {home.town} {home.postcode}").split())
    line = fold(home.address_line1).split()
    numbers = {word for word in line if regex.match(r"^\d+[a-z]?$", word)}
    names = {word for word in line if word not in STREET_WORDS and not word[0].isdigit() and len(word) > 2}
    said_numbers = {word for word in words if word[0].isdigit() and word not in postcode_words}
    # A word or two around the address ("it's", "my address is") is fine; a list of streets is not.
    unknown = [word for word in words if word not in known and word not in STREET_WORDS and len(word) > 2]
    return bool(names & set(words)) and said_numbers == numbers and len(unknown) <= 2


def doorstep_code(visit: Visit) -> str:
    """The visit's code, made on first use; moving a visit clears it so each slot gets its own."""
    if not visit.doorstep_code:
        visit.doorstep_code = f"{secrets.randbelow(10_000):04d}"
    return visit.doorstep_code


def visit_at_door(session: Session, tenant_id: int, now: datetime) -> Visit | None:
    """The booked visit whose slot is now (give or take an hour), or whose operative has told the
    tenant they are on the way, arriving or there (they may well come early), if there is one."""
    slot_is_now = Visit.slot_start <= now + DOOR_MARGIN
    operative_coming = Visit.operative_status.in_(OPERATIVE_COMING)
    return session.scalar(
        select(Visit)
        .where(
            Visit.tenant_id == tenant_id,
            Visit.status.in_(OPEN_VISIT_STATUSES),
            or_(slot_is_now, operative_coming),
            Visit.slot_end >= now - DOOR_MARGIN,
        )
        .order_by(Visit.slot_start)
        .limit(1)
    )
