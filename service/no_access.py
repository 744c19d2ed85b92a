"""No access: each failed attempt at the door, counted by a blame-free policy, followed up, and turned into cases.

An operative who reports `no_access` in the slot (service/operatives.py) makes an
attempt: kept with their notes, photo reference and whether a card was left.
The policy (config.yml `no_access_policy:`) decides whether it counts: only a
pre-booked attempt does (the tenant agreed the visit, or it was notified in
advance), and by default only with notice in writing early enough. Each counted
attempt moves the tenant and visit type one stage on; the tenant gets that
stage's follow-up with real new times to pick from, and at the policy's number
a no-access case opens for the specialist team. A visit we missed is never an
attempt (operatives.py records it as ours before it can reach here).

Texts follow what we know about the tenant, as every message we start does:
nothing about a visit to a number not yet checked, discreet wording at safe
times only, and none after an opt-out. A follow-up that must wait (quiet hours,
safe hours, an exit word) goes out with the reminders run when it may.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service import adjustments, dialogue, identity, messaging, reminders, visits
from store.db import transaction
from store.models import (
    CASE_ACTION_KINDS,
    CASE_OUTCOMES,
    OPEN_VISIT_STATUSES,
    AccessAttempt,
    AccessCase,
    AccessCaseAction,
    Message,
    OfficerTask,
    Reminder,
    Tenant,
    Visit,
    VisitEvent,
)

log = logging.getLogger(__name__)
LONDON = ZoneInfo("Europe/London")
STAGES = ("friendly", "firmer", "case")
LETTER = "letter_sent"
# A reminder that only asked an unchecked number for the address told the tenant nothing about the visit.
NOT_A_NOTICE = "reminder_unverified"
WAITING, SENDING, TEXTED, NOT_TEXTED = "waiting", "sending", "texted", "not_texted"
NOT_TEXTED_TASK = "no_access_follow_up"


class PolicyError(ValueError):
    """config.yml `no_access_policy:` says something the policy cannot follow."""


class OutcomeRequired(ValueError):
    """A case is closed only with one of the outcomes in CASE_OUTCOMES."""


class CaseClosed(Exception):
    """The case is already closed: nothing more is recorded on it."""


# The policy.


@dataclass(frozen=True)
class Policy:
    case_after_attempts: int
    case_after_by_type: dict
    require_written_notice: bool
    written_notice_days: int
    notice_statuses: tuple[str, ...]
    follow_ups: dict[int, str]
    not_counted_follow_up: str

    def case_after(self, visit_type: str) -> int:
        return int(self.case_after_by_type.get(visit_type, self.case_after_attempts))

    def stage_for(self, number: int) -> str:
        """The stage for the nth counted attempt: its own entry, or the nearest one below it."""
        listed = sorted(self.follow_ups)
        at_or_below = [n for n in listed if n <= number]
        return self.follow_ups[at_or_below[-1] if at_or_below else listed[0]]


DEFAULTS = {
    "case_after_attempts": 3,
    "case_after_attempts_by_visit_type": {},
    "counting": {
        "require_written_notice": True,
        "written_notice_days": 2,
        "notice_statuses": ["sent", "delivered", "read"],
    },
    "follow_ups": {1: "friendly", 2: "firmer", 3: "case"},
    "not_counted_follow_up": "friendly",
}


def policy(settings) -> Policy:
    """config.yml `no_access_policy:` over the defaults, checked so a typo fails loudly, not silently."""
    section = {**DEFAULTS, **settings.section("no_access_policy")}
    counting = {**DEFAULTS["counting"], **(section.get("counting") or {})}
    follow_ups = {int(number): stage for number, stage in (section.get("follow_ups") or {}).items()}
    rules = Policy(
        case_after_attempts=int(section["case_after_attempts"]),
        case_after_by_type=dict(section.get("case_after_attempts_by_visit_type") or {}),
        require_written_notice=bool(counting["require_written_notice"]),
        written_notice_days=int(counting["written_notice_days"]),
        notice_statuses=tuple(counting["notice_statuses"]),
        follow_ups=follow_ups,
        not_counted_follow_up=section["not_counted_follow_up"],
    )
    unknown = sorted({*follow_ups.values(), rules.not_counted_follow_up} - set(STAGES))
    if not follow_ups or unknown:
        raise PolicyError(f"no_access_policy follow-ups must be stages from {STAGES}; got {unknown or 'none'}")
    if rules.case_after_attempts < 1 or any(int(n) < 1 for n in rules.case_after_by_type.values()):
        raise PolicyError("no_access_policy case_after_attempts must be 1 or more")
    return rules


# Was the attempt pre-booked, and notified in writing?


@dataclass(frozen=True)
class Notice:
    agreed: bool
    notified: bool
    in_writing: bool
    # In English, for the evidence record: each agreement and notice, with its time and status.
    summary: str

    @property
    def prebooked(self) -> bool:
        return self.agreed or self.notified


def notice_for(session: Session, visit: Visit, booked_as_confirmed: bool, rules: Policy) -> Notice:
    """What the tenant had agreed and been told about this slot before the operative came."""
    moved = _last_event(session, visit, "moved")
    confirmed = _last_event(session, visit, "confirmed", after=moved)
    notices = _texts_about_slot(session, visit, moved, rules) + _letters_about_slot(session, visit)
    latest_written_day = _london_day(visit.slot_start) - timedelta(days=rules.written_notice_days)
    written = [(at, what) for at, what in notices if _london_day(at) <= latest_written_day]

    lines = []
    if confirmed is not None:
        lines.append(f"Agreed: confirmed by {_actor(confirmed.actor)} on {_when(confirmed.at)}.")
    elif booked_as_confirmed:
        lines.append("Agreed: the visit was booked as confirmed.")
    else:
        lines.append("Not agreed: the visit was never confirmed.")
    lines += [f"Notice: {what}, {_when(at)}." for at, what in sorted(notices)]
    if not notices:
        lines.append("No notice was sent before the slot.")
    days = rules.written_notice_days
    lines.append(f"Written notice at least {days} day{'s' if days != 1 else ''} before: {'yes' if written else 'no'}.")
    return Notice(
        agreed=confirmed is not None or booked_as_confirmed,
        notified=bool(notices),
        in_writing=bool(written),
        summary=" ".join(lines),
    )


def _last_event(session: Session, visit: Visit, status: str, after: VisitEvent | None = None) -> VisitEvent | None:
    query = select(VisitEvent).where(VisitEvent.visit_id == visit.id, VisitEvent.status == status)
    if after is not None:
        query = query.where(VisitEvent.id > after.id)
    return session.scalar(query.order_by(VisitEvent.id.desc()).limit(1))


def _texts_about_slot(session: Session, visit: Visit, moved: VisitEvent | None, rules: Policy) -> list[tuple]:
    """Booking notices and reminders that went out for this slot before it, with a status showing they left us."""
    query = (
        select(Reminder, Message)
        .join(Message, Message.id == Reminder.message_id)
        .where(Reminder.visit_id == visit.id, Reminder.status == "sent", Reminder.sent_at < visit.slot_start)
    )
    if moved is not None:
        # A reminder sent before the visit moved was about the old slot.
        query = query.where(Reminder.sent_at >= moved.at)
    found = []
    for reminder, message in session.execute(query).all():
        if message.status not in rules.notice_statuses or (message.raw or {}).get("text_key") == NOT_A_NOTICE:
            continue
        kind = "booking notice" if reminder.kind == "on_booking" else f"reminder ({reminder.kind.replace('_', ' ')})"
        found.append((reminder.sent_at, f"{kind} by {message.channel}, {message.status}"))
    return found


def _letters_about_slot(session: Session, visit: Visit) -> list[tuple]:
    """Letters an officer recorded for this very slot, dated before it."""
    letters = session.scalars(
        select(VisitEvent).where(
            VisitEvent.visit_id == visit.id,
            VisitEvent.status == LETTER,
            VisitEvent.new_slot_start == visit.slot_start,
            VisitEvent.at < visit.slot_start,
        )
    )
    return [(letter.at, f"letter recorded by {_actor(letter.actor)}") for letter in letters]


# An attempt, and what the policy makes of it.


def record_attempt(
    session: Session, visit: Visit, report, actor: str, now: datetime, settings, booked_as_confirmed: bool
) -> AccessAttempt:
    """Keep the failed attempt, count it if the policy says so, and open a case at the policy's number."""
    rules = policy(settings)
    # One attempt at a time per tenant, so two reports at once cannot both be "number 3" or open two cases.
    session.execute(select(Tenant.id).where(Tenant.id == visit.tenant_id).with_for_update())
    notice = notice_for(session, visit, booked_as_confirmed, rules)
    counted = notice.prebooked and (notice.in_writing or not rules.require_written_notice)
    # Read before the new attempt is added, so it is not counted in its own run.
    run = current_run(session, visit.tenant_id, visit.visit_type) if counted else []

    attempt = AccessAttempt(
        visit_id=visit.id,
        tenant_id=visit.tenant_id,
        visit_type=visit.visit_type,
        slot_start=visit.slot_start,
        slot_end=visit.slot_end,
        at=now,
        reported_by=actor,
        note=report.note,
        photo_ref=report.photo_ref,
        card_left=report.card_left,
        prebooked=notice.prebooked,
        notified_in_writing=notice.in_writing,
        notice=notice.summary,
        counted=counted,
        follow_up_status=WAITING,
    )
    session.add(attempt)

    if not counted:
        attempt.stage = rules.not_counted_follow_up
        session.flush()
        return attempt

    attempt.number = len(run) + 1
    attempt.stage = rules.stage_for(attempt.number)
    case = open_case_for(session, visit.tenant_id, visit.visit_type)
    if case is None and attempt.number >= rules.case_after(visit.visit_type):
        case = _open_case(session, visit, now)
    if case is not None:
        for earlier in run:
            earlier.case_id = earlier.case_id or case.id
        attempt.case_id = case.id
    session.flush()
    log.info(
        "access attempt recorded",
        extra={"visit_id": visit.id, "counted": counted, "number": attempt.number, "case_id": attempt.case_id},
    )
    return attempt


def current_run(session: Session, tenant_id: int, visit_type: str) -> list[AccessAttempt]:
    """Counted attempts not yet settled by a closed case: the ones the next attempt adds to."""
    return list(
        session.scalars(
            select(AccessAttempt)
            .outerjoin(AccessCase, AccessCase.id == AccessAttempt.case_id)
            .where(
                AccessAttempt.tenant_id == tenant_id,
                AccessAttempt.visit_type == visit_type,
                AccessAttempt.counted.is_(True),
                or_(AccessAttempt.case_id.is_(None), AccessCase.status == "open"),
            )
            .order_by(AccessAttempt.id)
        )
    )


def open_case_for(session: Session, tenant_id: int, visit_type: str) -> AccessCase | None:
    return session.scalar(
        select(AccessCase).where(
            AccessCase.tenant_id == tenant_id, AccessCase.visit_type == visit_type, AccessCase.status == "open"
        )
    )


def _open_case(session: Session, visit: Visit, now: datetime) -> AccessCase:
    case = AccessCase(
        tenant_id=visit.tenant_id,
        property_id=visit.property_id,
        visit_type=visit.visit_type,
        status="open",
        opened_at=now,
    )
    session.add(case)
    session.flush()
    log.info("no-access case opened", extra={"case_id": case.id, "visit_id": visit.id})
    return case


# The tenant's follow-up.


def follow_up(runtime, session: Session, attempt: AccessAttempt, now: datetime) -> int | None:
    """Store the attempt's follow-up if it may go now; its message id to send after commit, or None.

    One that must wait for a safe time stays `waiting` with the time it may go;
    one that cannot go at all is `not_texted`, with a task for an officer to
    reach the tenant another way.
    """
    visit = session.get(Visit, attempt.visit_id)
    tenant = session.get(Tenant, attempt.tenant_id)
    if identity.must_check(runtime.settings, tenant):
        return _not_texted(session, attempt, "the number is not yet checked as the tenant's, so it hears nothing")
    discreet = adjustments.discreet_for(session, tenant.id)
    channel = reminders.channel_for(session, tenant, now, discreet)
    if channel is None:
        return _not_texted(session, attempt, "the tenant cannot be texted (opted out, or no safe channel open)")

    may_go_at = _first_safe_moment(runtime.settings, discreet, now)
    if may_go_at > now:
        attempt.follow_up_status, attempt.follow_up_due_at = WAITING, may_go_at
        return None

    conversation = messaging.conversation_for(session, tenant.phone, channel)
    turn = dialogue.system_turn(session, runtime.settings, conversation, tenant, now)
    dialogue.follow_up_no_access(turn, visit, attempt.stage)
    # Several lines with a numbered list: never squeezed into a WhatsApp template, so no text_key.
    message = messaging.outbound(
        conversation,
        "\n".join(turn.replies),
        visit_id=visit.id,
        template_key=f"no_access.{attempt.stage}",
        # On the same clock as the attempt, so the evidence record keeps them in order.
        created_at=now,
    )
    session.add(message)
    session.flush()
    attempt.follow_up_status, attempt.follow_up_due_at, attempt.follow_up_message_id = TEXTED, None, message.id
    return message.id


def _first_safe_moment(settings, discreet, now: datetime) -> datetime:
    """Now, or the first moment outside the quiet hours, the tenant's exit-word silence and their safe hours."""
    moment = now
    silenced_until = (discreet.settings or {}).get("silenced_until") if discreet else None
    if silenced_until and datetime.fromisoformat(silenced_until) > moment:
        moment = datetime.fromisoformat(silenced_until)
    moment = visits.outside_quiet_hours(moment, settings.section("reminders").get("quiet_hours") or {})
    return adjustments.within_safe_hours(discreet, moment)


def _not_texted(session: Session, attempt: AccessAttempt, reason: str, task: bool = True) -> None:
    attempt.follow_up_status, attempt.follow_up_due_at, attempt.follow_up_note = NOT_TEXTED, None, reason
    if task:
        session.add(
            OfficerTask(
                kind=NOT_TEXTED_TASK,
                tenant_id=attempt.tenant_id,
                visit_id=attempt.visit_id,
                detail=(
                    f"Nobody could let the operative in, and the tenant was not texted: {reason}. "
                    "Please contact them another way to find a new time."
                ),
            )
        )
    return None


def send_due_follow_ups(runtime, now: datetime) -> int:
    """Send every follow-up that was waiting for a safe time and may go by `now`. Returns how many went."""
    with transaction(runtime.sessions) as session:
        due = session.scalars(
            select(AccessAttempt.id)
            .where(AccessAttempt.follow_up_status == WAITING, AccessAttempt.follow_up_due_at <= now)
            .order_by(AccessAttempt.follow_up_due_at)
        ).all()
    sent = 0
    for attempt_id in due:
        try:
            sent += _send_waiting(runtime, attempt_id, now)
        except Exception:
            # One tenant's bad data must not keep every other follow-up waiting.
            log.exception("no-access follow-up not sent", extra={"attempt_id": attempt_id})
    return sent


def _send_waiting(runtime, attempt_id: int, now: datetime) -> bool:
    with transaction(runtime.sessions) as session:
        # Claimed with one conditional UPDATE, so two reminders runs at once send it once.
        claimed = session.execute(
            update(AccessAttempt)
            .where(AccessAttempt.id == attempt_id, AccessAttempt.follow_up_status == WAITING)
            .values(follow_up_status=SENDING)
        ).rowcount
        if not claimed:
            return False
        attempt = session.get(AccessAttempt, attempt_id)
        session.refresh(attempt)
        visit = session.get(Visit, attempt.visit_id)
        if visit.status != dialogue.REBOOKABLE or visit.slot_start != attempt.slot_start:
            # Rebooked (by the tenant on another channel, or an officer) before it was safe to text.
            _not_texted(session, attempt, "the visit was rebooked before it was safe to text", task=False)
            return False
        message_id = follow_up(runtime, session, attempt, now)
    return bool(message_id) and messaging.deliver(runtime, message_id)


# What officers do with a case.


def record_case_action(session: Session, case: AccessCase, officer_id: int, kind: str, note: str, now: datetime):
    """An officer's call, letter, visit or note on the case. A letter also counts as written notice
    for the case's next booked visit, so an attempt at that visit can count."""
    if case.status != "open":
        raise CaseClosed()
    if kind not in CASE_ACTION_KINDS:
        raise ValueError(f"kind must be one of {CASE_ACTION_KINDS}")
    action = AccessCaseAction(case_id=case.id, officer_id=officer_id, kind=kind, note=note, at=now)
    session.add(action)
    if kind == LETTER:
        upcoming = next_visit(session, case, now)
        if upcoming is not None:
            record_letter(session, upcoming, f"officer:{officer_id}", now, note)
    session.flush()
    return action


def next_visit(session: Session, case: AccessCase, now: datetime) -> Visit | None:
    """The case's next booked visit (same tenant and visit type), if one is booked."""
    return session.scalar(
        select(Visit)
        .where(
            Visit.tenant_id == case.tenant_id,
            Visit.visit_type == case.visit_type,
            Visit.status.in_(OPEN_VISIT_STATUSES),
            Visit.slot_start > now,
        )
        .order_by(Visit.slot_start)
        .limit(1)
    )


def record_letter(session: Session, visit: Visit, actor: str, sent_at: datetime, note: str | None) -> VisitEvent:
    """A letter about the visit's current slot; `new_slot_start` keeps which slot it named."""
    event = VisitEvent(
        visit_id=visit.id, status=LETTER, actor=actor, note=note or None, new_slot_start=visit.slot_start, at=sent_at
    )
    session.add(event)
    return event


def close_case(session: Session, case: AccessCase, officer_id: int, outcome: str, note: str, now: datetime) -> None:
    """Close with one of the fixed outcomes; the tenant's next counted attempt starts a new run."""
    if outcome not in CASE_OUTCOMES:
        raise OutcomeRequired(f"choose how the case ended: one of {', '.join(CASE_OUTCOMES)}")
    if case.status != "open":
        raise CaseClosed()
    case.status, case.outcome, case.outcome_note = "closed", outcome, note or None
    case.closed_at, case.closed_by = now, officer_id


# How times and people read in the record.


def _london_day(moment: datetime):
    return moment.astimezone(LONDON).date()


def _when(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%a %d %b %Y, %H:%M")


def _actor(actor: str) -> str:
    if actor.startswith("officer:"):
        return f"an officer ({actor})"
    return {"tenant": "the tenant", "assistant": "the assistant", "system": "the booking system"}.get(actor, actor)
