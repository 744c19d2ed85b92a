"""The conversation about a tenant's needs: hearing them, asking consent, and saying what happens next.

A need can come up in any message, in any language. The assistant thanks the
tenant, asks whether a note may be kept, and only then stores it and tells the
tenant what will change. A tenant for whom texts could be unsafe (domestic
abuse) is offered discreet contact: we ask when it is safe to text and which
word ends a chat at once, and a safeguarding officer takes it from there.
Every step is one reply; whatever else the tenant says falls through to the
normal handling.
"""

import unicodedata
from datetime import datetime, time
from typing import TYPE_CHECKING

import regex

from service import adjustments, i18n
from service.adjustments import DISCREET, KINDS
from service.handoff import request_handoff
from service.languages import requested_language
from service.safety import emergency_in
from service.visits import replan_for_tenant

if TYPE_CHECKING:
    from service.dialogue import Turn

YES, NO = "action_affirm", "action_deny"
# Kinds of pending question this module answers.
QUESTIONS = ("need_consent", "discreet_consent", "discreet_times", "discreet_word", "erase_confirm", "ask_needs")
# Questions about a visit that a need interrupts and that resume afterwards.
RESUMABLE = ("confirm_visit", "clarify_yes", "cancel_visit", "move_visit", "pick_slot", "ask_time")
DEFAULT_SAFE_HOURS = ("09:00", "17:00")
# Requests that come before any need the same message mentions.
PRECEDENCE = ("action_stop", "action_request_human")
# An exit word must not be a word the tenant also uses to answer us, or a keyword the carrier acts on.
RESERVED_EXIT_WORDS = {"yes", "no", "y", "n", "ok", "stop", "start", "help", "info", "change", "cancel", "end", "quit"}
MAX_EXIT_WORD = 40
# A clock time in folded text: "10", "10am", "2 pm", "14:00", "9.30".
CLOCK = regex.compile(r"(?<![\d:])(?P<hour>\d{1,2})(?:[:.h](?P<minute>\d{2}))?\s*(?P<half>am|pm)?(?!\d)")


def handle(turn: "Turn", pending: dict, action: str) -> bool:
    """Answer this message if it is about needs; False leaves it to the rest of the dialogue."""
    kind = pending.get("kind")
    if action in PRECEDENCE and kind not in ("discreet_times", "discreet_word"):
        # "Stop texting me" or "let me speak to a person" is done first; a person reads the rest.
        return False
    heard = adjustments.needs_in(turn.text)
    # "Yes, I use a wheelchair" to "is there anything that would help?" is the need, not a bare yes.
    answered_with_a_need = kind == "ask_needs" and heard
    if kind in QUESTIONS and not answered_with_a_need and _answers(turn, pending, action):
        return True

    if heard:
        _heard(turn, heard, pending)
        return True
    if adjustments.asks_for_erasure(turn.text):
        if not adjustments.active(turn.session, turn.tenant.id):
            turn.say("nothing_to_erase")
            return True
        turn.set_pending("erase_confirm")
        turn.say("erase_ask")
        return True
    return False


def maybe_ask(turn: "Turn") -> None:
    """After a booking is settled, ask once whether anything would make visits easier."""
    config = turn.settings.section("adjustments")
    if not config.get("ask_after_booking", True) or turn.tenant.needs_asked_at is not None:
        return
    turn.tenant.needs_asked_at = turn.now
    if adjustments.active(turn.session, turn.tenant.id):
        return
    turn.set_pending("ask_needs")
    turn.say("ask_needs")


def _heard(turn: "Turn", heard: list[str], pending: dict) -> None:
    resume = pending if pending.get("kind") in RESUMABLE else None
    question = "discreet_consent" if DISCREET in heard else "need_consent"
    turn.set_pending(question, needs=heard, message_id=turn.message.id, resume=resume)
    turn.say("discreet_consent" if question == "discreet_consent" else "needs_consent")


def _answers(turn: "Turn", pending: dict, action: str) -> bool:
    kind = pending["kind"]
    if kind == "need_consent":
        return _consent(turn, pending, action)
    if kind == "discreet_consent":
        return _discreet_consent(turn, pending, action)
    if kind == "discreet_times":
        return _discreet_times(turn, pending)
    if kind == "discreet_word":
        return _discreet_word(turn, pending)
    if kind == "erase_confirm":
        return _erase(turn, action)
    return _asked_about_needs(turn, action)


def _consent(turn: "Turn", pending: dict, action: str) -> bool:
    if action not in (YES, NO):
        turn.set_pending(None)
        return False
    if action == NO:
        turn.say("needs_not_recorded")
        _resume(turn, pending)
        return True

    kinds = pending.get("needs") or ["other"]
    _record(turn, kinds, pending)
    turn.say("needs_recorded")
    for kind in kinds:
        turn.say(f"effect.{kind}")
    if any(KINDS[kind].needs_person for kind in kinds):
        turn.task("adjustment", "The tenant told us about a need that a person must arrange; see their card.")
        request_handoff(turn.conversation, "adjustment", turn.now)
        turn.conversation.holding_sent = True
        turn.set_pending(None)
    else:
        _resume(turn, pending)
    return True


def _record(turn: "Turn", kinds: list[str], pending: dict, settings: dict | None = None) -> None:
    source = turn.session.get(type(turn.message), pending.get("message_id")) if pending.get("message_id") else None
    adjustments.record(
        turn.session,
        turn.tenant.id,
        kinds,
        source.body if source else turn.text,
        recorded_by="assistant",
        consent_how="tenant agreed by text",
        now=turn.now,
        message_id=source.id if source else turn.message.id,
        settings=settings,
    )
    turn.session.flush()
    replan_for_tenant(turn.session, turn.tenant.id, turn.settings, turn.now)


def _resume(turn: "Turn", pending: dict) -> None:
    """Put back the question about a visit that the need interrupted, so a later "yes" still works."""
    resume = pending.get("resume")
    if resume:
        details = {key: value for key, value in resume.items() if key not in ("kind", "asked_at")}
        turn.set_pending(resume["kind"], **details)
    else:
        turn.set_pending(None)


def _discreet_consent(turn: "Turn", pending: dict, action: str) -> bool:
    if action not in (YES, NO):
        turn.set_pending(None)
        turn.task("safeguarding", "Possible safeguarding concern raised by text; no arrangement agreed yet.")
        return False
    if action == NO:
        # The tenant said no to a note, but a person should still know someone may be at risk.
        turn.task("safeguarding", "Possible safeguarding concern raised by text; the tenant declined a note.")
        turn.say("needs_not_recorded")
        turn.set_pending(None)
        return True
    other_needs = [kind for kind in pending.get("needs") or [] if kind != DISCREET]
    _record(turn, [DISCREET, *other_needs], pending, settings={"channel": turn.conversation.channel})
    turn.task("safeguarding", "Discreet contact agreed by text. Safeguarding officers: see the tenant's card.")
    turn.set_pending("discreet_times", tries=0)
    turn.say("discreet_ask_times")
    return True


def _discreet_times(turn: "Turn", pending: dict) -> bool:
    hours = safe_hours_in(turn.text)
    if hours is None and pending.get("tries", 0) < 1:
        turn.set_pending("discreet_times", tries=pending.get("tries", 0) + 1)
        turn.say("discreet_times_unclear")
        return True
    _update_discreet(turn, safe_hours=list(hours or DEFAULT_SAFE_HOURS))
    turn.set_pending("discreet_word")
    turn.say("discreet_ask_word")
    return True


def safe_hours_in(text: str) -> tuple[str, str] | None:
    """ "10am to 2pm", "10-14", "between 22:00 and 6:00": the first two clock times, as "HH:MM".

    A time with no am/pm takes the meaning that makes a sensible window with
    the other one ("10 to 2pm" is 10:00-14:00). A window may run past midnight.
    """
    plain = unicodedata.normalize("NFKC", text or "").casefold().replace(".m.", "m").replace("a.m", "am")
    found = [clock for clock in map(_clock_time, CLOCK.finditer(plain)) if clock is not None]
    if len(found) < 2:
        return None
    (start, start_half), (end, end_half) = found[:2]
    if start_half is None and end_half == "pm" and start[0] + 12 < end[0]:
        start = (start[0] + 12, start[1])  # "4 to 8pm" is an evening window
    if start_half is None and end_half is None and end[0] < start[0] <= 12 and end[0] <= 7:
        end = (end[0] + 12, end[1])  # "10 to 2" is the working day, not the night
    if start == end:
        return None
    return f"{start[0] % 24:02d}:{start[1]:02d}", f"{end[0] % 24:02d}:{end[1]:02d}"


def _clock_time(match) -> tuple[tuple[int, int], str | None] | None:
    hour, minute, half = int(match.group("hour")), int(match.group("minute") or 0), match.group("half")
    if hour > 24 or minute > 59 or (half and hour > 12):
        return None
    if half == "pm" and hour < 12:
        hour += 12
    if half == "am" and hour == 12:
        hour = 0
    return (hour, minute), half


def _discreet_word(turn: "Turn", pending: dict) -> bool:
    word = adjustments.fold_for_matching(turn.text)
    if not _usable_exit_word(word, turn):
        turn.say("discreet_ask_word")
        return True
    adjustment = _update_discreet(turn, exit_word=word)
    opens, closes = (adjustment.settings.get("safe_hours") or DEFAULT_SAFE_HOURS)[:2]
    turn.set_pending(None)
    turn.say(
        "discreet_done",
        start=_clock(opens, turn),
        end=_clock(closes, turn),
        word=turn.text.strip()[:MAX_EXIT_WORD],
    )
    # From here a safeguarding officer leads; the assistant stays quiet.
    request_handoff(turn.conversation, "safeguarding", turn.now)
    turn.conversation.holding_sent = True
    return True


def _usable_exit_word(word: str, turn: "Turn") -> bool:
    """Short, and never a word that would also mean yes, no, stop or an emergency."""
    if not word or len(word) > MAX_EXIT_WORD or word in RESERVED_EXIT_WORDS:
        return False
    return emergency_in(turn.text) is None and not requested_language(turn.text, turn.settings)


def _update_discreet(turn: "Turn", **settings):
    adjustment = adjustments.discreet_for(turn.session, turn.tenant.id)
    adjustment.settings = {**(adjustment.settings or {}), **settings}
    turn.session.flush()
    replan_for_tenant(turn.session, turn.tenant.id, turn.settings, turn.now)
    return adjustment


def _clock(hhmm: str, turn: "Turn") -> str:
    moment = datetime.combine(turn.now.astimezone(i18n.LONDON).date(), time.fromisoformat(hhmm), i18n.LONDON)
    return i18n.format_clock(moment, turn.locale)


def _erase(turn: "Turn", action: str) -> bool:
    if action not in (YES, NO):
        turn.set_pending(None)
        return False
    turn.set_pending(None)
    if action == NO:
        turn.say("erase_kept")
        return True
    adjustments.erase(turn.session, turn.tenant.id)
    replan_for_tenant(turn.session, turn.tenant.id, turn.settings, turn.now)
    turn.task("erasure", "The tenant asked by text for their notes to be deleted; they have been.")
    turn.say("erased")
    return True


def _asked_about_needs(turn: "Turn", action: str) -> bool:
    if action in (NO, "action_thanks"):
        turn.set_pending(None)
        turn.say("needs_none")
        return True
    if action == YES:
        turn.say("needs_tell_more")
        return True
    if action in ("action_fallback", "action_out_of_scope") and len(turn.text.split()) >= 3:
        # Something we have no words for: keep it in the tenant's words for a person to read.
        turn.set_pending("need_consent", needs=["other"], message_id=turn.message.id)
        turn.say("needs_consent")
        return True
    turn.set_pending(None)
    return False
