"""Changes to a visit, each recorded in its history, with its reminders kept in step."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service import adjustments, i18n, webhooks
from service.slots import Slot, slot_is_free
from store.models import OPEN_VISIT_STATUSES, Operative, Reminder, Visit, VisitEvent

LONDON = ZoneInfo("Europe/London")


class SlotTaken(Exception):
    """The slot was booked by someone else between the offer and the tenant's yes."""


def record(session: Session, visit: Visit, status: str, actor: str, **details) -> VisitEvent:
    event = VisitEvent(visit_id=visit.id, status=status, actor=actor, **details)
    session.add(event)
    # Every visit change passes here: the HMS's webhook event is stored in this same transaction.
    webhooks.queue_visit_event(session, visit, status, actor, details)
    return event


def confirm_visit(session: Session, visit: Visit, actor: str, message_id: int | None = None) -> None:
    visit.status = "confirmed"
    record(session, visit, "confirmed", actor, message_id=message_id)


def cancel_visit(session: Session, visit: Visit, actor: str, message_id: int | None = None) -> None:
    visit.status = "cancelled"
    record(session, visit, "cancelled", actor, message_id=message_id)
    _drop_pending_reminders(session, visit)


def move_visit(
    session: Session,
    visit: Visit,
    slot: Slot,
    actor: str,
    settings,
    now: datetime,
    message_id: int | None = None,
    agreed: bool = True,
) -> None:
    """Move to `slot` in one transaction: re-check the slot, swap the reminders, record both steps.

    The operative row is locked first so two tenants taking the same slot at once
    cannot both succeed (SQLite serialises writers anyway). A move the tenant has
    not agreed to (`agreed=False`: the provider's system moved it) leaves the visit
    booked, not confirmed, and tells the tenant the new time as a new booking is told.
    """
    session.execute(select(Operative.id).where(Operative.id == slot.operative_id).with_for_update())
    if not slot_is_free(session, slot, exclude_visit=visit.id):
        raise SlotTaken()

    old_start = visit.slot_start
    visit.slot_start, visit.slot_end, visit.operative_id = slot.start, slot.end, slot.operative_id
    visit.doorstep_code = None  # a code is good for one slot only
    # The day's progress, its tracking link and any miss by us belonged to the old slot.
    visit.operative_status = visit.eta = visit.arrived_at = visit.tracking_token = None
    visit.missed_by_provider_at = None
    if not agreed:
        visit.status = "booked"  # before the move is recorded, so its webhook event says so
    # Stamped with the caller's clock: the evidence record orders notices against the move.
    moved = {"old_slot_start": old_start, "new_slot_start": slot.start}
    record(session, visit, "moved", actor, **moved, message_id=message_id, at=now)
    if agreed:
        visit.status = "confirmed"
        record(session, visit, "confirmed", actor, message_id=message_id, at=now)

    _drop_pending_reminders(session, visit)
    plan_reminders(session, visit, settings, now, renotify=not agreed)


def _drop_pending_reminders(session: Session, visit: Visit) -> None:
    session.execute(
        update(Reminder).where(Reminder.visit_id == visit.id, Reminder.status == "pending").values(status="replaced")
    )


def plan_reminders(
    session: Session, visit: Visit, settings, now: datetime, keep_sent: bool = False, renotify: bool = False
) -> list[Reminder]:
    """Store the reminder plan from config.yml and the tenant's needs; times already past are left out.

    Every time is moved out of the quiet hours and, for a tenant in discreet
    contact, into the hours they said are safe. A pending reminder the plan no
    longer has is replaced. With `keep_sent`, reminders already sent stay as
    they are (a new need adds steps, it does not resend). With `renotify`, the
    booking notice goes again (the time changed without the tenant).
    """
    reminders_config = settings.section("reminders")
    quiet = reminders_config.get("quiet_hours") or {}
    discreet = adjustments.discreet_for(session, visit.tenant_id)
    steps = list(reminders_config.get("plan", []))
    steps += adjustments.extra_reminder_steps(session, visit.tenant_id, settings.section("adjustments"))

    existing = {r.kind: r for r in session.scalars(select(Reminder).where(Reminder.visit_id == visit.id))}
    wanted = {}
    for step in steps:
        if step.get("on_booking"):
            # Once per visit, at the next reminders run: a move is answered in the conversation instead.
            booked = existing.get(step["kind"])
            if booked is None or booked.status == "pending" or renotify:
                due = booked.due_at if booked and not renotify else outside_quiet_hours(now, quiet)
                wanted[step["kind"]] = adjustments.within_safe_hours(discreet, due, before=visit.slot_start)
            continue
        due = outside_quiet_hours(_due_time(visit.slot_start, step), quiet)
        due = adjustments.within_safe_hours(discreet, due, before=visit.slot_start)
        if now < due < visit.slot_start:
            wanted[step["kind"]] = due

    for kind, reminder in existing.items():
        if kind not in wanted and reminder.status == "pending":
            reminder.status = "replaced"

    planned = []
    for kind, due in wanted.items():
        reminder = existing.get(kind)
        if reminder and keep_sent and reminder.status not in ("pending", "replaced"):
            continue
        if reminder is None:
            reminder = Reminder(visit_id=visit.id, kind=kind)
            session.add(reminder)
        reminder.due_at, reminder.status, reminder.sent_at, reminder.message_id = due, "pending", None, None
        planned.append(reminder)
    return planned


def replan_for_tenant(session: Session, tenant_id: int, settings, now: datetime) -> None:
    """After a tenant's needs change, every open visit's plan follows them."""
    for visit in open_visits(session, tenant_id, now):
        plan_reminders(session, visit, settings, now, keep_sent=True)


def _due_time(slot_start: datetime, step: dict) -> datetime:
    local_start = slot_start.astimezone(LONDON)
    if "hours_before" in step:
        return slot_start - timedelta(hours=step["hours_before"])
    if "at" in step:
        # "the evening before": a wall-clock time on the previous day, right across clock changes.
        day = local_start.date() - timedelta(days=step.get("days_before", 1))
        return datetime.combine(day, time.fromisoformat(step["at"]), LONDON).astimezone(slot_start.tzinfo)
    local_due = local_start - timedelta(days=step["days_before"])
    # Same wall-clock time N days before, even when the clocks changed in between.
    return local_due.replace(tzinfo=None).replace(tzinfo=LONDON).astimezone(slot_start.tzinfo)


def outside_quiet_hours(due: datetime, quiet: dict) -> datetime:
    if not quiet:
        return due
    local = due.astimezone(LONDON)
    starts, ends = time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"])
    clock = local.time()
    if clock >= starts:
        morning = datetime.combine(local.date() + timedelta(days=1), ends, LONDON)
    elif clock < ends:
        morning = datetime.combine(local.date(), ends, LONDON)
    else:
        return due
    return morning.astimezone(due.tzinfo)


def operative_name(visit: Visit, locale: str) -> str:
    """Who is coming, as the tenant is told: a first name, or "one of our team" in their language."""
    return visit.operative.first_name if visit.operative else i18n.render("operative_unknown", locale)


def open_visits(session: Session, tenant_id: int, now: datetime) -> list[Visit]:
    return list(
        session.scalars(
            select(Visit)
            .where(Visit.tenant_id == tenant_id, Visit.status.in_(OPEN_VISIT_STATUSES), Visit.slot_end > now)
            .order_by(Visit.slot_start)
        )
    )
