"""What operatives report on the day, and what it means for the visit.

An operative (or their scheduling system) reports through the API (service/api.py):
on my way, running late, arrived, finished or no access. The progress markers live
in Visit.operative_status; the booking's own status changes only when the visit
ends (finished: completed; no access inside the slot: no_access). Every report is
a VisitEvent naming the API key that made it.

A visit we did not come to in its slot, or came to well outside it, is recorded
as missed by the provider: never as a failed attempt by the tenant.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from service.visits import record
from store.models import OPEN_VISIT_STATUSES, OPERATIVE_STATUSES, Message, Visit, VisitEvent

LONDON = ZoneInfo("Europe/London")
ON_THE_WAY = ("on_my_way", "running_late")
# Visit history for what is not the operative's own status word.
EVENT_FOR = {"finished": "completed"}
NO_ACCESS_OFF_SLOT = "no_access_off_slot"
MISSED = "missed_by_provider"
TENANT_NOT_IN = "tenant_not_in"
CHANGE_AT_DOOR = "change_at_door"
# What the operative's app shows for each kind of tenant reply kept on the visit.
RELAYED = {
    TENANT_NOT_IN: ("cannot_make_it", "The tenant says they cannot be in now."),
    CHANGE_AT_DOOR: ("change_request", "The tenant asks to cancel or move the visit; an officer will follow up."),
}
# config.yml `operatives:` may override these.
DEFAULTS = {
    # A slot that ended this long ago with nobody at the door is a visit we missed.
    "missed_after_minutes": 60,
    # Arriving more than this before the slot or after it is not arriving in the slot.
    "arrival_margin_minutes": 60,
    # An ETA further ahead than this is a typing mistake, not a plan.
    "eta_max_hours": 12,
    # The sweep judges only slots that ended this recently: older ones predate it or are the office's.
    "missed_lookback_hours": 24,
    # Turn off while some operatives do not report through the API: their visits would all read as missed.
    "sweep_missed_visits": True,
}
# An ETA a little in the past is a report sent late, not a mistake.
ETA_GRACE = timedelta(minutes=15)
# How far back "nobody came" looks for the visit it is about.
DUE_LOOKBACK = timedelta(days=3)


class VisitClosed(Exception):
    """The visit is cancelled, moved, finished or already recorded as missed: nothing to report on."""


class InvalidReport(ValueError):
    """A report the API must refuse, with a message that says what to send instead."""


@dataclass(frozen=True)
class Report:
    status: str
    eta: datetime | None = None
    note: str | None = None
    # With no_access: where the operative's photo of the door is kept, and whether a calling card went through it.
    photo_ref: str | None = None
    card_left: bool | None = None


def config(settings) -> dict:
    return {**DEFAULTS, **settings.section("operatives")}


# Reading a report.


def read_report(body, now: datetime, settings) -> Report:
    """The API's JSON body as a Report, or InvalidReport saying what is wrong."""
    if not isinstance(body, dict):
        raise InvalidReport('send a JSON object, e.g. {"status": "on_my_way", "eta": "2026-12-05T10:40:00Z"}')
    status = body.get("status")
    if status not in OPERATIVE_STATUSES:
        raise InvalidReport(f"status must be one of: {', '.join(OPERATIVE_STATUSES)}")

    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        raise InvalidReport("note must be text of at most 500 characters")

    photo_ref = body.get("photo_ref")
    if photo_ref is not None and (not isinstance(photo_ref, str) or len(photo_ref) > 500):
        raise InvalidReport("photo_ref must be text of at most 500 characters (a link or your system's photo id)")
    card_left = body.get("card_left")
    if card_left is not None and not isinstance(card_left, bool):
        raise InvalidReport("card_left must be true or false")

    eta = None
    if status in ON_THE_WAY:
        if body.get("eta") in (None, ""):
            raise InvalidReport("eta is required for on_my_way and running_late")
        eta = parse_eta(body["eta"], now, config(settings)["eta_max_hours"])
    return Report(
        status=status,
        eta=eta,
        note=(note or "").strip() or None,
        photo_ref=(photo_ref or "").strip() or None,
        card_left=card_left,
    )


def parse_eta(value, now: datetime, max_hours: float) -> datetime:
    """An ISO-8601 date and time (London time when it has no offset), or a time of day today."""
    if not isinstance(value, str):
        raise InvalidReport("eta must be an ISO-8601 time, e.g. 2026-12-05T10:40:00Z or 10:40")
    try:
        eta = _parse_moment(value.strip(), now)
    except ValueError as error:
        raise InvalidReport("eta must be an ISO-8601 time, e.g. 2026-12-05T10:40:00Z or 10:40") from error
    if not now - ETA_GRACE <= eta <= now + timedelta(hours=max_hours):
        raise InvalidReport(f"eta must be between now and {max_hours:g} hours ahead")
    return eta


def _parse_moment(text: str, now: datetime) -> datetime:
    if "T" in text or " " in text or len(text) > 8:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=LONDON)).astimezone(now.tzinfo)
    clock = time.fromisoformat(text)
    today = now.astimezone(LONDON).date()
    moment = datetime.combine(today, clock, LONDON).astimezone(now.tzinfo)
    if moment < now - timedelta(hours=12):
        # "00:10" said at 23:50 means tomorrow.
        moment = datetime.combine(today + timedelta(days=1), clock, LONDON).astimezone(now.tzinfo)
    return moment


# Applying a report.


def apply_report(session: Session, visit: Visit, report: Report, actor: str, now: datetime, settings) -> str | None:
    """Record the report on the visit. Returns the text the tenant should get ("on_my_way", "running_late") or None.

    A repeated report (a retry from the operative's app) records the event again but
    texts the tenant only when there is news: the first "on my way", or a new ETA.
    """
    if not visit.is_open or visit.missed_by_provider_at:
        raise VisitClosed("already recorded as missed" if visit.is_open else visit.status)
    before_status, before_eta = visit.operative_status, visit.eta
    visit.operative_status = report.status

    if report.status in ON_THE_WAY:
        visit.eta = report.eta
        tracking_token(visit)
        record(session, visit, report.status, actor, note=_with_eta(report), at=now)
        if report.status == "on_my_way":
            return "on_my_way" if before_status is None else None
        return "running_late" if report.eta != before_eta else None

    if report.status == "arrived":
        visit.arrived_at = visit.arrived_at or now
    elif report.status == "finished":
        visit.status = "completed"
    elif report.status == "no_access":
        visit.arrived_at = visit.arrived_at or now
        if arrived_outside_slot(visit, settings):
            # Not an attempt the tenant could have known about: the sweep records it as ours.
            record(session, visit, NO_ACCESS_OFF_SLOT, actor, note=report.note, at=now)
            return None
        visit.status = "no_access"
    record(session, visit, EVENT_FOR.get(report.status, report.status), actor, note=report.note, at=now)
    return None


def _with_eta(report: Report) -> str:
    eta = f"ETA {report.eta.astimezone(LONDON):%H:%M}"
    return f"{eta}. {report.note}" if report.note else eta


def tracking_token(visit: Visit) -> str:
    """The secret in the tenant's tracking link, made once per slot."""
    if not visit.tracking_token:
        visit.tracking_token = secrets.token_urlsafe(24)
    return visit.tracking_token


def arrived_outside_slot(visit: Visit, settings) -> bool:
    if visit.arrived_at is None:
        return False
    margin = timedelta(minutes=config(settings)["arrival_margin_minutes"])
    return not visit.slot_start - margin <= visit.arrived_at <= visit.slot_end + margin


def someone_came(visit: Visit) -> bool:
    """The operative reported being at the door in the slot (no access well outside it is our miss)."""
    return visit.status in ("completed", "no_access") or visit.operative_status in ("arrived", "finished")


# Visits we missed.


def record_missed(session: Session, visit: Visit, actor: str, now: datetime, reason: str, message_id=None) -> bool:
    """Mark the visit's slot as missed by us, once. False if it already was.

    The conditional UPDATE makes a tenant's "nobody came" and the sweep racing
    for one visit record it (and tell the office) only once.
    """
    marked = session.execute(
        update(Visit)
        .where(Visit.id == visit.id, Visit.missed_by_provider_at.is_(None))
        .values(missed_by_provider_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if not marked:
        return False
    record(session, visit, MISSED, actor, note=reason, message_id=message_id, at=now)
    return True


def missed_visit_ids(session: Session, now: datetime, settings) -> list[int]:
    """Open visits whose slot we missed (see was_missed) and that are not yet recorded as missed."""
    rules = config(settings)
    if not rules["sweep_missed_visits"]:
        return []
    ended_before = now - timedelta(minutes=rules["missed_after_minutes"])
    maybe = or_(Visit.slot_end <= ended_before, Visit.operative_status == "no_access")
    query = (
        select(Visit)
        .where(
            Visit.status.in_(OPEN_VISIT_STATUSES),
            Visit.missed_by_provider_at.is_(None),
            Visit.slot_end >= now - timedelta(hours=rules["missed_lookback_hours"]),
            maybe,
        )
        .order_by(Visit.slot_start)
    )
    return [visit.id for visit in session.scalars(query) if was_missed(visit, now, settings)]


def was_missed(visit: Visit, now: datetime, settings) -> bool:
    """We missed this slot, and have not yet said so.

    Either it ended a while ago with nobody at the door (and nobody still on the
    way with an ETA ahead), or the operative came well outside it and could not get in.
    """
    if not visit.is_open or visit.missed_by_provider_at:
        return False
    if visit.operative_status == "no_access":
        return arrived_outside_slot(visit, settings)
    ended_before = now - timedelta(minutes=config(settings)["missed_after_minutes"])
    still_coming = visit.eta is not None and visit.eta > now
    return visit.slot_end <= ended_before and visit.operative_status in (None, *ON_THE_WAY) and not still_coming


def access_failures(session: Session, tenant_id: int) -> int:
    """Failed attempts that count against the tenant: no access, in the slot, on a visit we did not miss."""
    return session.scalar(
        select(func.count())
        .select_from(VisitEvent)
        .join(Visit, Visit.id == VisitEvent.visit_id)
        .where(Visit.tenant_id == tenant_id, VisitEvent.status == "no_access", Visit.missed_by_provider_at.is_(None))
    )


# Finding the visit a tenant's message is about.


def visit_on_its_way(session: Session, tenant_id: int, now: datetime) -> Visit | None:
    """Today's open visit whose operative has set off or is at the door."""
    return session.scalar(
        select(Visit)
        .where(
            Visit.tenant_id == tenant_id,
            Visit.status.in_(OPEN_VISIT_STATUSES),
            Visit.missed_by_provider_at.is_(None),
            Visit.operative_status.in_((*ON_THE_WAY, "arrived")),
            Visit.slot_start <= now + timedelta(hours=12),
            Visit.slot_end >= now - timedelta(hours=12),
        )
        .order_by(Visit.slot_start)
        .limit(1)
    )


def latest_due_visit(session: Session, tenant_id: int, now: datetime) -> Visit | None:
    """The visit "nobody came" is about: the latest that was due to start by now, in the last few days."""
    return session.scalar(
        select(Visit)
        .where(
            Visit.tenant_id == tenant_id,
            Visit.status.in_((*OPEN_VISIT_STATUSES, "completed", "no_access")),
            Visit.slot_start <= now,
            Visit.slot_end >= now - DUE_LOOKBACK,
        )
        .order_by(Visit.slot_start.desc())
        .limit(1)
    )


# What the tenant said, for the operative.


def relay_to_operative(session: Session, visit: Visit, message: Message, now: datetime, kind=TENANT_NOT_IN) -> None:
    """The tenant's reply, kept on the visit so the operative's app sees it (GET /api/v1/visits/<ref>)."""
    record(session, visit, kind, "tenant", message_id=message.id, at=now)


def replies_for_operative(session: Session, visit: Visit) -> list[dict]:
    """What the tenant told us since the operative set off for this slot, oldest first."""
    moved = session.scalar(
        select(func.max(VisitEvent.id)).where(VisitEvent.visit_id == visit.id, VisitEvent.status == "moved")
    )
    set_off = session.scalar(
        select(func.min(VisitEvent.id)).where(
            VisitEvent.visit_id == visit.id, VisitEvent.status == "on_my_way", VisitEvent.id > (moved or 0)
        )
    )
    if set_off is None:
        return []
    rows = session.execute(
        select(VisitEvent.at, VisitEvent.status, Message.body)
        .join(Message, Message.id == VisitEvent.message_id)
        .where(VisitEvent.visit_id == visit.id, VisitEvent.status.in_(RELAYED), VisitEvent.id > set_off)
        .order_by(VisitEvent.id)
    ).all()
    replies = []
    for row in rows:
        kind, summary = RELAYED[row.status]
        replies.append({"at": row.at.isoformat(), "kind": kind, "summary": summary, "text": row.body})
    return replies
