"""What the assistant does with one understood tenant message.

Rasa decides which action a message calls for; the action server then asks us
to carry it out (see internal_api.py). The pending question ("confirm this
visit?", "which of these slots?") lives in the conversation row, not in Rasa's
session, so a late "yes" days after a reminder still lands on the right visit.
Nothing is cancelled or moved until the tenant has said an explicit yes to a
question that named the visit and the time.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import adjustments, i18n, identity, jobs, needs, operatives, reasons, satisfaction
from service.dates import parse_requested_time, parse_time_of_day_words
from service.handoff import request_handoff, with_a_person
from service.languages import detect_language, language_by_code
from service.slots import MIN_NOTICE, Slot, find_free_slots
from service.visits import SlotTaken, cancel_visit, confirm_visit, move_visit, open_visits, operative_name
from store.models import Conversation, Message, OfficerTask, Reminder, Tenant, Visit

log = logging.getLogger(__name__)
LONDON = ZoneInfo("Europe/London")

# A closed visit the tenant may still pick a new time for: the follow-up after no access offered them.
REBOOKABLE = "no_access"
# Below this an "affirm" is checked back with the tenant rather than acted on.
AFFIRM_CERTAINTY = 0.75
# \d is any script's digit (٢, ۲, ২...): int() reads them all.
CHOICE_PATTERN = re.compile(r"^\s*(?:no\.?|number|option)?\s*(\d)\s*[.)!]*\s*$", re.IGNORECASE)
# Questions answered by a number from a list we sent.
NUMBERED_LISTS = ("pick_slot", "pick_visit", "menu")
# "the second one", "last": how people refer back to a short numbered list.
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "last": -1}
VISIT_TYPE_WORDS = {
    "gas_safety_check": ("gas", "boiler", "heating"),
    "electrical_check": ("electric", "electrical", "wiring", "eicr", "fuse"),
    "repair": ("repair", "fix", "leak", "broken"),
    "damp_survey": ("damp", "mould", "mold", "condensation"),
    "tenancy_audit": ("audit", "home visit", "check-in"),
    "alarm_check": ("alarm", "smoke", "carbon"),
}


@dataclass
class Turn:
    """One tenant message being answered: where we are, and what we will say.

    A turn the assistant starts itself (after a visit we missed) has no message.
    """

    session: Session
    settings: object
    conversation: Conversation
    tenant: Tenant
    message: Message | None
    now: datetime
    text: str
    replies: list[str] = field(default_factory=list)

    @property
    def locale(self) -> str:
        return i18n.normalise_locale(self.tenant.language)

    @property
    def state(self) -> dict:
        return self.conversation.state or {}

    def say(self, key: str, **values) -> None:
        self.replies.append(i18n.render(key, self.locale, **values))

    def set_pending(self, kind: str | None, **details) -> None:
        """Remember the question just asked, with the visit as it stood, for the next reply."""
        if kind and details.get("visit_id"):
            details = {**question_about(self.session.get(Visit, details["visit_id"]), kind, self.now), **details}
        state = dict(self.state)
        state["pending"] = {"kind": kind, "asked_at": self.now.isoformat(), **details} if kind else None
        self.conversation.state = state
        if not kind:
            self._clear_other_channels()

    def open_question(self) -> dict:
        """The question this message answers.

        The one asked on this channel, or else one asked on the tenant's other
        channel in the last day (a reply to an SMS may come back by WhatsApp).
        A question about a visit that has changed since is dropped: a "yes"
        must never act on a booking the tenant was not looking at.
        """
        candidates = [self.conversation, *self._other_channels()]
        for conversation in candidates:
            pending = (conversation.state or {}).get("pending") or {}
            if not pending.get("kind"):
                continue
            if conversation is not self.conversation and not _recent(pending, self.now):
                continue
            if pending.get("visit_id") and pending.get("as_of") != _visit_version(
                self.session.get(Visit, pending["visit_id"])
            ):
                continue
            return pending
        return {}

    def _other_channels(self) -> list[Conversation]:
        return list(
            self.session.scalars(
                select(Conversation).where(
                    Conversation.tenant_id == self.tenant.id, Conversation.id != self.conversation.id
                )
            )
        )

    def _clear_other_channels(self) -> None:
        for conversation in self._other_channels():
            if (conversation.state or {}).get("pending"):
                conversation.state = {**conversation.state, "pending": None}

    def set_focus(self, visit: Visit) -> None:
        state = dict(self.state)
        state["visit_id"] = visit.id
        self.conversation.state = state

    def count_misunderstanding(self, reset: bool = False) -> int:
        state = dict(self.state)
        state["misunderstood"] = 0 if reset else state.get("misunderstood", 0) + 1
        self.conversation.state = state
        return state["misunderstood"]

    def when_wanted(self, since: datetime | None = None):
        """The day or time the tenant asks for, read in their language, the message's own and English.

        `since` reads the words from another moment than now: "the 2pm one" about slots offered
        for a later day must not be dropped because 2pm today has passed.
        """
        return parse_requested_time(self.text, since or self.now, languages=self._date_languages())

    def names_a_time_of_day(self) -> bool:
        """ "at night", "before 9am", "in the evenings": a time of day, whatever the date."""
        return parse_time_of_day_words(self.text, languages=self._date_languages()) is not None

    def _date_languages(self) -> tuple[str, ...]:
        spoken = [self.locale, detect_language(self.text, self.settings), "en"]
        languages = [language_by_code(self.settings, code) for code in spoken if code]
        return tuple(dict.fromkeys(language.dateparser_code for language in languages if language)) or ("en",)

    @property
    def discreet(self) -> bool:
        return adjustments.discreet_for(self.session, self.tenant.id) is not None

    def describe(self, visit: Visit) -> dict:
        # In discreet contact a message never says what the visit is for.
        visit_type = "discreet" if self.discreet else visit.visit_type
        return {
            "visit": i18n.render(f"visit_type.{visit_type}", self.locale),
            "slot": i18n.format_slot(visit.slot_start, visit.slot_end, self.locale),
        }

    def actor(self) -> str:
        return "tenant"

    def task(self, kind: str, detail: str, visit: Visit | None = None) -> None:
        """Something a person at the provider must pick up, linked to this message."""
        self.session.add(
            OfficerTask(
                kind=kind,
                tenant_id=self.tenant.id,
                conversation_id=self.conversation.id,
                message_id=self.message.id if self.message else None,
                visit_id=visit.id if visit else None,
                detail=detail,
            )
        )


def handle_turn(turn: Turn, action: str, intent: str, confidence: float) -> None:
    """Carry out `action` for this message, leaving the replies in turn.replies."""
    pending = turn.open_question()
    # Kept for insight whatever happens next; never asked for.
    reasons.capture(turn, action, pending)

    if needs.handle(turn, pending, action):
        turn.count_misunderstanding(reset=True)
        return
    pending = turn.open_question()

    if satisfaction.handle(turn, pending, action):
        turn.count_misunderstanding(reset=True)
        return

    if _answers_a_choice(turn, pending):
        turn.count_misunderstanding(reset=True)
        return
    if pending.get("kind") in ("ask_time", "pick_slot") and action not in ("action_request_human", "action_stop"):
        wanted = turn.when_wanted()
        if wanted and action not in ("action_affirm", "action_deny", "action_cancel"):
            turn.count_misunderstanding(reset=True)
            _offer_slots_for(turn, _visit_by_id(turn, pending.get("visit_id"), rebooking=True), wanted)
            return

    handler = HANDLERS.get(action, _fallback)
    if handler not in (_fallback, _greet, _out_of_scope):
        # Only real progress clears the count: "hi" or small talk between two
        # misunderstood messages must not keep the menu away (BR-18).
        turn.count_misunderstanding(reset=True)
    handler(turn, pending, intent, confidence)


# Each handler below answers one Rasa action.


def _affirm(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    kind = pending.get("kind")
    rebooking = kind == "move_visit" or (kind == "clarify_yes" and pending.get("then") == "move_visit")
    visit = _visit_by_id(turn, pending.get("visit_id"), rebooking=rebooking) if pending else None

    if kind == "combine_visit" and visit:
        _answer_combine(turn, visit, pending, confidence)
        return
    if confidence < AFFIRM_CERTAINTY and kind != "clarify_yes":
        target = visit or _focus_visit(turn)
        if target:
            turn.set_pending("clarify_yes", visit_id=target.id, then=kind or "confirm_visit", slot=pending.get("slot"))
            turn.say("clarify_yes", **turn.describe(target))
            return
    if kind == "clarify_yes":
        kind = pending.get("then")

    if kind in ("cancel_visit", "move_visit") and visit and _operative_at_the_door(turn, visit):
        return
    if kind == "cancel_visit" and visit:
        if visit.operative_status in operatives.ON_THE_WAY:
            _tell_operative_on_the_way(turn, visit, "cancelled the visit")
        cancel_visit(turn.session, visit, turn.actor(), turn.message.id)
        turn.task("visit_cancelled", "Tenant cancelled by text; offer a new date.", visit=visit)
        turn.set_pending(None)
        turn.say("cancelled", **turn.describe(visit))
        return
    if kind == "move_visit" and visit and pending.get("slot"):
        _move(turn, visit, Slot.from_dict(pending["slot"]))
        return
    if kind == "pick_slot" and visit:
        turn.say("offer_slots_pick")
        return

    if kind == "ask_time":
        # "Yes please" to "what time would suit you better?" names no time and agrees to nothing.
        target = _visit_by_id(turn, pending.get("visit_id"), rebooking=True) or _focus_visit(turn)
        if target:
            _ask_new_time(turn, target)
            return

    visit = visit if kind == "confirm_visit" else _focus_visit(turn)
    if visit is None:
        _no_visit_or_pick(turn, then="confirm_visit")
        return
    if _operative_at_the_door(turn, visit):
        # A "yes" after asking to cancel at the door must not turn into a confirmation.
        return
    if kind != "confirm_visit" and visit.status != "confirmed":
        # A yes to no question of ours about this visit (the question was answered, or the visit
        # changed since): a confirmed visit counts against the tenant at the door, so ask first.
        turn.set_focus(visit)
        turn.set_pending("clarify_yes", visit_id=visit.id, then="confirm_visit")
        turn.say("clarify_yes", **turn.describe(visit))
        return
    _confirm(turn, visit)


def _deny(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    kind = pending.get("kind")
    if kind == "combine_visit":
        # "No" keeps the visit as it is; the other work waits for its own visit.
        turn.set_pending(None)
        turn.say("combine_kept")
        needs.maybe_ask(turn)
        return
    visit = _visit_by_id(turn, pending.get("visit_id"), rebooking=True) or _focus_visit(turn)
    if visit is None:
        _no_visit_or_pick(turn, then="ask_time")
        return
    if not visit.is_open:
        # "No" to the times offered after a failed visit: there is no booking to keep, so ask what suits.
        _ask_new_time(turn, visit)
        return
    if kind in ("cancel_visit", "move_visit", "pick_slot", "clarify_yes") and kind != "confirm_visit":
        if kind == "clarify_yes" and pending.get("then") == "confirm_visit":
            _ask_new_time(turn, visit)
            return
        turn.set_pending(None)
        turn.say("kept", **turn.describe(visit))
        return
    _ask_new_time(turn, visit)


def _cancel(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    visit = _focus_visit(turn)
    if visit is None:
        _no_visit_or_pick(turn, then="cancel_visit")
        return
    if _operative_at_the_door(turn, visit):
        return
    turn.set_focus(visit)
    turn.set_pending("cancel_visit", visit_id=visit.id)
    turn.say("ask_cancel", **turn.describe(visit))


def _rebook(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    rebooking = pending.get("kind") in ("ask_time", "pick_slot", "move_visit")
    visit = (_visit_by_id(turn, pending.get("visit_id"), rebooking=True) if rebooking else None) or _focus_visit(turn)
    if visit is None:
        _no_visit_or_pick(turn, then="ask_time")
        return
    if _operative_at_the_door(turn, visit):
        return
    if visit.operative_status in operatives.ON_THE_WAY:
        # They must know before they knock, whether or not a new time is picked.
        _tell_operative_on_the_way(turn, visit, "asked for another time")
    wanted = turn.when_wanted()
    if wanted:
        _offer_slots_for(turn, visit, wanted)
    else:
        _ask_new_time(turn, visit)


def _cannot_make_it(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    visit = operatives.visit_on_its_way(turn.session, turn.tenant.id, turn.now)
    if visit is None:
        _rebook(turn, pending, intent, confidence)
        return

    # "I'm not in" while the operative is on the way: they must know before they knock.
    _tell_operative_on_the_way(turn, visit, "says they cannot be in now")

    turn.say("on_way_told", operative=operative_name(visit, turn.locale))
    wanted = turn.when_wanted()
    if wanted:
        _offer_slots_for(turn, visit, wanted)
        return
    turn.set_focus(visit)
    turn.set_pending("ask_time", visit_id=visit.id)
    turn.say("ask_another_time")


def _nobody_came(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    """ "Nobody turned up": if the slot has passed with nobody at the door, that is our miss, never theirs."""
    visit = operatives.latest_due_visit(turn.session, turn.tenant.id, turn.now) or _later_today(turn)
    if visit is None:
        turn.task("nobody_came", "The tenant says nobody came, but no visit was due. Please look into it.")
        turn.say("nobody_came_no_visit")
        return

    if visit.operative_status in operatives.ON_THE_WAY and visit.eta and visit.eta > turn.now:
        turn.say("on_way_still_coming", operative=operative_name(visit, turn.locale), eta=_clock(turn, visit.eta))
        return
    if visit.missed_by_provider_at is None and operatives.someone_came(visit):
        # The operative reported being there (also earlier in a slot not yet over): a person finds
        # out what happened, nobody is blamed meanwhile.
        turn.task("visit_disputed", "The tenant says nobody came, but the operative reported a visit.", visit=visit)
        turn.say("nobody_came_checking", **turn.describe(visit))
        return
    if visit.slot_end > turn.now:
        turn.say("nobody_came_not_yet", **turn.describe(visit))
        return

    reason = "The tenant says nobody came, and no arrival was reported in the slot."
    if operatives.record_missed(turn.session, visit, turn.actor(), turn.now, reason, turn.message.id):
        turn.task("missed_by_provider", reason, visit=visit)
    apologise_for_missed_visit(turn, visit)


def _operative_at_the_door(turn: Turn, visit: Visit) -> bool:
    """Once the operative says they have arrived, a cancel or move by text is for people to sort out.

    Moving the visit then would wipe the arrival from the record and leave the
    operative knocking; instead the operative sees the tenant's words and an
    officer gets a task.
    """
    if visit.operative_status != "arrived" or not visit.is_open:
        return False
    operatives.relay_to_operative(turn.session, visit, turn.message, turn.now, kind=operatives.CHANGE_AT_DOOR)
    detail = "The operative has arrived and the tenant asks to cancel or move the visit."
    _task_once(turn, "change_at_door", detail, visit)
    turn.set_pending(None)
    turn.say("on_way_told", operative=operative_name(visit, turn.locale))
    return True


def _tell_operative_on_the_way(turn: Turn, visit: Visit, change: str) -> None:
    """The tenant cannot keep the visit the operative is driving to: the office must stop them.

    The tenant's words are kept for the operative's app as well.
    """
    operatives.relay_to_operative(turn.session, visit, turn.message, turn.now)
    detail = f"The operative is on the way and the tenant {change} by text: tell the operative."
    _task_once(turn, "tenant_not_in", detail, visit)


def _task_once(turn: Turn, kind: str, detail: str, visit: Visit) -> None:
    """One open task of a kind per visit: a tenant's second text about it adds nothing to do."""
    already = turn.session.scalar(
        select(OfficerTask.id).where(
            OfficerTask.visit_id == visit.id, OfficerTask.kind == kind, OfficerTask.status == "open"
        )
    )
    if already is None:
        turn.task(kind, detail, visit=visit)


def _later_today(turn: Turn) -> Visit | None:
    """An open visit that has not started yet but will within the day."""
    soon = [
        v for v in open_visits(turn.session, turn.tenant.id, turn.now) if v.slot_start - turn.now < timedelta(hours=12)
    ]
    return soon[0] if soon else None


def _answer_question(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    if intent == "ask_at_door":
        _answer_door(turn)
        return
    visit = _focus_visit(turn)
    if visit is None:
        _no_visit_or_pick(turn, then=None)
        return
    turn.set_focus(visit)
    described = turn.describe(visit)
    if intent == "ask_who":
        operative = operative_name(visit, turn.locale)
        turn.say("who_answer", operative=operative, **described)
    elif intent == "ask_what" and not turn.discreet:
        turn.replies.append(i18n.render(f"visit_purpose.{visit.visit_type}", turn.locale))
        turn.say("when_answer", **described)
    elif intent == "ask_duration":
        minutes = turn.settings.visit_types.get(visit.visit_type, {}).get("minutes", 60)
        turn.say("duration_answer", length=_length_words(minutes, turn.locale), **described)
    else:
        turn.say("when_answer", **described)


def _answer_door(turn: Turn) -> None:
    """ "Someone is at my door, is it you?": yes with the code to ask for, or no and stay safe."""
    visit = identity.visit_at_door(turn.session, turn.tenant.id, turn.now)
    if visit is None:
        turn.task("unexpected_caller", "The tenant asked about someone at their door; no visit is booked now.")
        turn.say("door_no")
        # Someone may be at risk now: an officer sees it at the top of the queue.
        request_handoff(turn.conversation, "unexpected_caller", turn.now, urgent=True)
        turn.conversation.holding_sent = True
        return
    turn.set_focus(visit)
    operative = operative_name(visit, turn.locale)
    turn.say("door_yes", operative=operative, code=identity.doorstep_code(visit), **turn.describe(visit))


def _thanks(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    kind = pending.get("kind")
    visit = _visit_by_id(turn, pending.get("visit_id"))
    if kind == "confirm_visit" and visit:
        # "ok thanks" to "Reply YES to confirm" is probably a yes, but only an explicit one may act.
        # (Not after a cancel or move question, where "is that a yes?" could be misread.)
        turn.set_pending("clarify_yes", visit_id=visit.id, then=kind, slot=pending.get("slot"))
        turn.say("clarify_yes", **turn.describe(visit))
        return
    turn.say("thanks")


def _greet(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    visit = _focus_visit(turn)
    first_name = turn.tenant.name.split()[0]
    if visit:
        turn.set_focus(visit)
        turn.set_pending("confirm_visit", visit_id=visit.id)
        turn.say("greeting", name=first_name, **turn.describe(visit))
    else:
        turn.say("greeting_no_visit", name=first_name)


def _request_human(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    _hand_to_a_person(turn, "asked_for_person", "Tenant asked to speak to someone.")


def _hand_to_a_person(turn: Turn, reason: str, detail: str) -> None:
    # The task says why: "asked for a person" is not what an officer should read after a misunderstanding.
    turn.task("handoff" if reason == "asked_for_person" else reason, detail)
    request_handoff(turn.conversation, reason, turn.now)
    turn.say("handoff")
    turn.conversation.holding_sent = True


def _stop(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    if turn.names_a_time_of_day():
        # "Stop texting me at night" asks for other times, not for silence: a person arranges it.
        # A date alone ("stop texting me, I'll call you tomorrow") is still a stop.
        _hand_to_a_person(turn, "contact_times", "The tenant asks us to text at other times, not to stop.")
        return
    if turn.conversation.channel == "whatsapp":
        turn.tenant.whatsapp_opted_out = True
    else:
        turn.tenant.sms_opted_out = True
    turn.task("tenant_opted_out", "Tenant asked for no more texts; contact them another way.")
    turn.set_pending(None)
    turn.say("opted_out")


def _out_of_scope(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    if pending.get("kind") in NUMBERED_LISTS:
        # "Reply 3 to speak to someone" would clash with the list still waiting for a number.
        turn.say("not_understood")
        return
    turn.say("out_of_scope")
    _offer_a_person(turn, pending)


def _offer_a_person(turn: Turn, pending: dict | None = None) -> None:
    """After a text that says "Reply 3 to speak to someone", a 3 must do just that.

    A question still open (cancel this visit?) stays open: a "yes" after an off-topic
    text still answers it, and only a 3 is added.
    """
    if pending and pending.get("kind"):
        turn.conversation.state = {**turn.state, "pending": {**pending, "person_on_3": True}}
        return
    turn.set_pending("menu", choices=[3])


def _fallback(turn: Turn, pending: dict, intent: str, confidence: float) -> None:
    misunderstood = turn.count_misunderstanding()
    menu_after = turn.settings.section("assistant").get("menu_after_misunderstandings", 2)
    if misunderstood > menu_after:
        # Even the menu did not help: a person takes it from here, never a loop.
        turn.set_pending(None)
        _hand_to_a_person(turn, "not_understood", "The assistant did not understand the tenant several times.")
        return
    if misunderstood == menu_after:
        visit = _focus_visit(turn)
        turn.set_pending("menu", visit_id=visit.id if visit else None)
        turn.say("menu")
        for number, key in enumerate(("menu_confirm", "menu_change", "menu_person"), start=1):
            turn.say("option_line", num=str(number), text=i18n.render(key, turn.locale))
        return
    turn.say("not_understood")


HANDLERS = {
    "action_affirm": _affirm,
    "action_deny": _deny,
    "action_cancel": _cancel,
    "action_rebook": _rebook,
    "action_cannot_make_it": _cannot_make_it,
    "action_nobody_came": _nobody_came,
    "action_answer_question": _answer_question,
    "action_thanks": _thanks,
    "action_greet": _greet,
    "action_request_human": _request_human,
    "action_stop": _stop,
    "action_out_of_scope": _out_of_scope,
    "action_fallback": _fallback,
}


# Turns the assistant starts itself.


def system_turn(session: Session, settings, conversation: Conversation, tenant: Tenant, now: datetime) -> Turn:
    """A turn with no tenant message: its replies become one text we send first."""
    return Turn(
        session=session, settings=settings, conversation=conversation, tenant=tenant, message=None, now=now, text=""
    )


def follow_up_no_access(turn: Turn, visit: Visit, stage: str) -> None:
    """After a visit nobody could let us in for: the policy stage's blame-free words, then real new times."""
    if turn.discreet:
        turn.say(f"no_access_discreet.{stage}", slot=turn.describe(visit)["slot"])
    else:
        turn.say(f"no_access.{stage}", name=turn.tenant.name.split()[0], **turn.describe(visit))
        if stage == "firmer":
            # Why the visit matters, and that help is there if something makes visits hard.
            turn.replies.append(i18n.render(f"visit_purpose.{visit.visit_type}", turn.locale))
            turn.say("no_access.help_offer")
    if with_a_person(turn.conversation):
        turn.say("missed_team_will_rebook")
        return
    _offer_slots_for(turn, visit, _Window(turn.now, turn.now + timedelta(days=7)))


def apologise_for_missed_visit(turn: Turn, visit: Visit) -> None:
    """Sorry, with real new times to pick from (or a person, when one has the conversation)."""
    turn.say("missed_sorry", **turn.describe(visit))
    if with_a_person(turn.conversation):
        turn.say("missed_team_will_rebook")
        return
    _offer_slots_for(turn, visit, _Window(turn.now, turn.now + timedelta(days=7)))


# Steps shared by the handlers.


def _answers_a_choice(turn: Turn, pending: dict) -> bool:
    """A bare number answers the numbered list we sent last, whatever Rasa made of it."""
    kind = pending.get("kind")
    if kind == "pick_slot":
        return _picks_a_slot(turn, pending)
    match = CHOICE_PATTERN.match(turn.text or "")
    if match and int(match.group(1)) == 3 and pending.get("person_on_3"):
        _request_human(turn, pending, "request_human", 1.0)
        return True
    if not match or kind not in ("menu", "pick_visit"):
        return False
    choice = int(match.group(1))

    if kind == "menu":
        if choice not in pending.get("choices", (1, 2, 3)):
            return False
        visit = _visit_by_id(turn, pending.get("visit_id")) or _focus_visit(turn)
        if choice == 1 and visit:
            _confirm(turn, visit)
        elif choice == 2 and visit:
            _ask_new_time(turn, visit)
        elif choice in (1, 2):
            _no_visit_or_pick(turn, then="confirm_visit" if choice == 1 else "ask_time")
        elif choice == 3:
            _request_human(turn, pending, "request_human", 1.0)
        else:
            return False
        return True

    visit_ids = pending.get("visit_ids") or []
    if not 1 <= choice <= len(visit_ids):
        return False
    visit = _visit_by_id(turn, visit_ids[choice - 1])
    if visit is None:
        # Cancelled or moved on another channel since the list went out: list again.
        _no_visit_or_pick(turn, then=pending.get("then"))
        return True
    turn.set_focus(visit)
    then = pending.get("then")
    if then == "cancel_visit":
        turn.set_pending("cancel_visit", visit_id=visit.id)
        turn.say("ask_cancel", **turn.describe(visit))
    elif then == "ask_time":
        _ask_new_time(turn, visit)
    elif then == "confirm_visit":
        _confirm(turn, visit)
    else:
        turn.set_pending(None)
        turn.say("when_answer", **turn.describe(visit))
    return True


def _picks_a_slot(turn: Turn, pending: dict) -> bool:
    """The tenant chose one of the offered slots, by its number or in words ("the 2pm one")."""
    slots = [Slot.from_dict(item) for item in pending.get("slots") or []]
    visit = _visit_by_id(turn, pending.get("visit_id"), rebooking=True)
    if not slots or visit is None:
        return False
    chosen = _slot_by_number(turn.text, slots) or _slot_by_words(turn, slots)
    if chosen is None:
        return False
    if _operative_at_the_door(turn, visit):
        return True
    if chosen.start < turn.now + MIN_NOTICE:
        _offer_after_slot_gone(turn, visit, chosen)
        return True
    # Echo the choice in words and wait for an explicit yes before moving anything.
    turn.set_pending("move_visit", visit_id=visit.id, slot=chosen.as_dict())
    turn.say(
        "ask_move", visit=turn.describe(visit)["visit"], slot=i18n.format_slot(chosen.start, chosen.end, turn.locale)
    )
    return True


def _slot_by_number(text: str, slots: list[Slot]) -> Slot | None:
    match = CHOICE_PATTERN.match(text or "")
    if match:
        number = int(match.group(1))
    else:
        words = (text or "").lower().split()
        number = next((ORDINALS[word] for word in words if word in ORDINALS), None)
        if number == -1:
            number = len(slots)
    if number and 1 <= number <= len(slots):
        return slots[number - 1]
    return None


def _slot_by_words(turn: Turn, slots: list[Slot]) -> Slot | None:
    """The one offered slot that falls inside the day or time the tenant names, if only one does."""
    first_day = slots[0].start.astimezone(LONDON).replace(hour=0, minute=0, second=0, microsecond=0)
    wanted = turn.when_wanted() or turn.when_wanted(since=max(first_day, turn.now))
    if wanted is None:
        return None
    inside = [slot for slot in slots if wanted.start <= slot.start < wanted.end]
    if not inside and wanted.precision != "day":
        # "the 3pm one" names a time of day, not a date: compare clock times only.
        opens, closes = wanted.start.astimezone(LONDON).time(), wanted.end.astimezone(LONDON).time()
        inside = [slot for slot in slots if opens <= slot.start.astimezone(LONDON).time() < closes]
    return inside[0] if len(inside) == 1 else None


def _confirm(turn: Turn, visit: Visit) -> None:
    turn.set_focus(visit)
    turn.set_pending(None)
    if visit.status == "confirmed":
        turn.say("already_confirmed", **turn.describe(visit))
        return
    confirm_visit(turn.session, visit, turn.actor(), turn.message.id)
    turn.say("confirmed" if _reminder_to_come(turn, visit) else "confirmed_no_reminder", **turn.describe(visit))
    # A visit the HMS booked is first agreed here: the place to offer other work at the home with it.
    if _offer_combined(turn, visit):
        return
    needs.maybe_ask(turn)


def _reminder_to_come(turn: Turn, visit: Visit) -> bool:
    """A reminder before the visit is still planned (the booking notice does not count)."""
    plan = turn.settings.section("reminders").get("plan", [])
    booking_notices = [step["kind"] for step in plan if step.get("on_booking")]
    planned = select(Reminder.id).where(
        Reminder.visit_id == visit.id, Reminder.status == "pending", Reminder.kind.not_in(booking_notices)
    )
    return turn.session.scalar(planned.limit(1)) is not None


def _ask_new_time(turn: Turn, visit: Visit) -> None:
    turn.set_focus(visit)
    turn.set_pending("ask_time", visit_id=visit.id)
    turn.say("ask_new_time")


def _offer_slots_for(turn: Turn, visit: Visit | None, wanted) -> None:
    if visit is None:
        _no_visit_or_pick(turn, then="ask_time")
        return
    visit_type = turn.settings.visit_types.get(visit.visit_type, {})
    minutes = adjustments.slot_minutes(
        turn.session, turn.tenant.id, visit_type.get("minutes", 60), turn.settings.section("adjustments")
    )
    assistant = turn.settings.section("assistant")
    avoid = None
    if wanted.ruled_out:
        # "I can't do Monday": offer the nearest times after it, none inside it.
        avoid = (wanted.start, wanted.end)
        wanted = _Window(wanted.end, wanted.end + timedelta(days=7))
    slots = find_free_slots(
        turn.session,
        visit,
        wanted.start,
        wanted.end,
        avoid=avoid,
        now=turn.now,
        minutes=minutes,
        skill=visit_type.get("skill"),
        limit=assistant.get("slots_offered", 3),
        search_days=assistant.get("search_days", 21),
        region=turn.settings.section("service").get("bank_holidays", "ENG"),
    )
    turn.set_focus(visit)
    if not slots:
        turn.set_pending("ask_time", visit_id=visit.id)
        turn.say("no_slots")
        return
    turn.set_pending("pick_slot", visit_id=visit.id, slots=[slot.as_dict() for slot in slots])
    if wanted.ambiguous:
        when = i18n.format_slot(wanted.start, wanted.end, turn.locale)
        turn.say("requested_time_echo", when=when)
    turn.say("offer_slots", visit=turn.describe(visit)["visit"])
    for number, slot in enumerate(slots, start=1):
        turn.say("option_line", num=str(number), text=i18n.format_slot(slot.start, slot.end, turn.locale))
    turn.say("offer_slots_pick")


def _move(turn: Turn, visit: Visit, slot: Slot) -> None:
    if _operative_at_the_door(turn, visit):
        return
    if slot.start < turn.now + MIN_NOTICE:
        # Times offered yesterday can be answered today: a time gone, or too close to reach, is never booked.
        _offer_after_slot_gone(turn, visit, slot)
        return
    if visit.operative_status in operatives.ON_THE_WAY:
        # Before the move, which clears the day's progress: the relay belongs to this trip.
        _tell_operative_on_the_way(turn, visit, "moved the visit")
    try:
        with turn.session.begin_nested():
            move_visit(turn.session, visit, slot, turn.actor(), turn.settings, turn.now, turn.message.id)
    except SlotTaken:
        turn.say("slot_gone")
        wanted_end = slot.end + timedelta(hours=4)
        _offer_slots_for(turn, visit, _Window(slot.start, wanted_end))
        return
    turn.set_pending(None)
    turn.say("moved" if _reminder_to_come(turn, visit) else "moved_no_reminder", **turn.describe(visit))
    if _offer_combined(turn, visit):
        return
    needs.maybe_ask(turn)


def _offer_after_slot_gone(turn: Turn, visit: Visit, slot: Slot) -> None:
    turn.say("slot_passed" if slot.start <= turn.now else "slot_too_soon")
    _offer_slots_for(turn, visit, _Window(turn.now, turn.now + timedelta(days=7)))


def _offer_combined(turn: Turn, visit: Visit) -> bool:
    """Offer other work pending at the home in the same visit, when an operative can do it all then."""
    if identity.must_check(turn.settings, turn.tenant):
        return False  # nothing about the home goes to a number not yet shown to be the tenant's
    offer = jobs.combined_offer(turn.session, turn.settings, visit)
    if offer is None:
        return False

    turn.set_pending("combine_visit", visit_id=visit.id, job_ids=[job.id for job in offer.jobs])
    if turn.discreet:
        turn.say("combine_offer_discreet")
    else:
        turn.say("combine_offer", jobs=_job_names(turn, offer.jobs))
    return True


def _answer_combine(turn: Turn, visit: Visit, pending: dict, confidence: float) -> None:
    """An explicit yes books the jobs into the visit; a doubtful one is asked again."""
    if confidence < AFFIRM_CERTAINTY:
        turn.say("combine_clarify")
        return

    job_ids, message_id = pending.get("job_ids") or [], turn.message.id
    try:
        with turn.session.begin_nested():
            added = jobs.add_to_visit(turn.session, turn.settings, visit, job_ids, turn.actor(), turn.now, message_id)
    except jobs.JobsGone:
        turn.set_pending(None)
        turn.say("combine_gone", **turn.describe(visit))
        return

    turn.set_pending(None)
    slot = turn.describe(visit)["slot"]
    if turn.discreet:
        turn.say("combine_done_discreet", slot=slot)
    else:
        turn.say("combine_done", jobs=_job_names(turn, added), slot=slot)
    needs.maybe_ask(turn)


def _job_names(turn: Turn, pending_jobs: list) -> str:
    names = [i18n.render(f"visit_type.{job.kind}", turn.locale) for job in pending_jobs]
    if len(names) == 1:
        return names[0]
    return i18n.render("list_and", turn.locale, items=", ".join(names[:-1]), last=names[-1])


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime
    ambiguous: bool = False
    ruled_out: bool = False


def _no_visit_or_pick(turn: Turn, then: str | None) -> None:
    visits = open_visits(turn.session, turn.tenant.id, turn.now)
    if not visits:
        turn.set_pending(None)
        turn.say("no_visits")
        _offer_a_person(turn)
        return
    turn.set_pending("pick_visit", visit_ids=[v.id for v in visits], then=then)
    turn.say("pick_visit")
    for number, visit in enumerate(visits, start=1):
        turn.say("option_line", num=str(number), text=i18n.render("visit_line", turn.locale, **turn.describe(visit)))


def _focus_visit(turn: Turn) -> Visit | None:
    """The visit this message is about, or None when the tenant must choose.

    The visit named in the text wins, then the one we last wrote about, then the
    only open one. With several open and no clue, nobody guesses.
    """
    visits = open_visits(turn.session, turn.tenant.id, turn.now)
    if not visits:
        return None
    named = _named_visits(turn.text, visits)
    if len(named) == 1:
        return named[0]
    focus_id = turn.state.get("visit_id")
    focused = next((v for v in visits if v.id == focus_id), None)
    if focused:
        return focused
    if len(visits) == 1:
        return visits[0]
    return None


def _named_visits(text: str, visits: list[Visit]) -> list[Visit]:
    lowered = (text or "").lower()
    return [v for v in visits if any(word in lowered for word in VISIT_TYPE_WORDS.get(v.visit_type, ()))]


def _visit_by_id(turn: Turn, visit_id, rebooking: bool = False) -> Visit | None:
    """The tenant's open visit with this id; when `rebooking`, also one nobody could let us in for.

    A visit with no access is closed, but the follow-up offered new times for it:
    picking one moves that visit (its reference and history stay with it).
    """
    if not visit_id:
        return None
    visit = turn.session.get(Visit, visit_id)
    if visit is None or visit.tenant_id != turn.tenant.id:
        return None
    if visit.is_open or (rebooking and visit.status == REBOOKABLE):
        return visit
    return None


def question_about(visit: Visit, kind: str, now: datetime) -> dict:
    """A pending question as stored on a conversation, for code outside a turn (reminders)."""
    return {"kind": kind, "visit_id": visit.id, "asked_at": now.isoformat(), "as_of": _visit_version(visit)}


def _visit_version(visit: Visit | None) -> str | None:
    """What a question about this visit assumed: its status and its slot.

    In UTC, so a slot just moved (still in London time in memory) reads the same as when it is loaded again.
    """
    return f"{visit.status}@{visit.slot_start.astimezone(timezone.utc).isoformat()}" if visit else None


def _recent(pending: dict, now: datetime) -> bool:
    asked = pending.get("asked_at")
    return bool(asked) and now - datetime.fromisoformat(asked) < timedelta(hours=24)


def _clock(turn: Turn, moment: datetime) -> str:
    return i18n.format_clock(moment, turn.locale)


def _length_words(minutes: int, locale: str) -> str:
    if minutes >= 60 and minutes % 60 == 0:
        return i18n.render("hours", locale, num=minutes // 60)
    return i18n.render("minutes", locale, num=minutes)
