"""What an officer does to a conversation: take it over, change a visit, escalate, hand it back.

Each action changes the record and writes its audit entry in one transaction,
so there is never a change without a name against it, nor the other way round.
"""

import logging
from datetime import date, datetime, time, timedelta

from flask import flash, redirect, render_template, request, url_for

from service import handoff
from service.console import audit
from service.console.blueprint import CONVERSATION_ROLES, bp, current_officer, requires_role, runtime
from service.console.views import conversation_or_404, is_mine, tenant_visit_or_404
from service.slots import find_free_slots
from service.visits import LONDON, SlotTaken, cancel_visit, confirm_visit, move_visit
from store.db import transaction
from store.models import OfficerTask

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 1000
SLOTS_SHOWN = 6
SEARCH_DAYS_WITHOUT_A_DAY = 7


@bp.post("/conversations/<int:conversation_id>/take-over")
@requires_role(*CONVERSATION_ROLES)
def take_over(conversation_id: int):
    """The officer takes the conversation from the queue, the assistant or a colleague."""
    officer, now = current_officer(), runtime().clock()
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            detail = {"from_owner": conversation.owner, "from_officer_id": conversation.assigned_officer_id}
            handoff.take_over(conversation, officer.id, now)
            audit.record(session, officer.id, "took_over", now, conversation=conversation, detail=detail)
    log.info("officer took over a conversation", extra={"officer_id": officer.id, "conversation_id": conversation_id})
    return _back_to(conversation_id)


@bp.post("/conversations/<int:conversation_id>/hand-back")
@requires_role(*CONVERSATION_ROLES)
def hand_back(conversation_id: int):
    """The assistant answers this tenant again, picking up its pending question."""
    officer, now = current_officer(), runtime().clock()
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            return _not_yours(conversation_id)
        handoff.hand_back(conversation)
        audit.record(session, officer.id, "handed_back", now, conversation=conversation)
    flash("Handed back: the assistant answers this tenant again.", "info")
    return redirect(url_for("console.queue"))


@bp.post("/conversations/<int:conversation_id>/escalate")
@requires_role(*CONVERSATION_ROLES)
def escalate(conversation_id: int):
    """Ask the specialist team to look; the conversation stays with officers meanwhile."""
    officer, now = current_officer(), runtime().clock()
    note = request.form.get("note", "").strip()[:MAX_NOTE_CHARS]
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            return _not_yours(conversation_id)
        task = OfficerTask(
            kind="escalated",
            tenant_id=conversation.tenant_id,
            conversation_id=conversation.id,
            detail=note or "Escalated from the console.",
        )
        session.add(task)
        session.flush()
        audit.record(session, officer.id, "escalated", now, conversation=conversation, detail={"task_id": task.id})
    flash("Escalated to the specialist team. The conversation stays with you.", "info")
    return _back_to(conversation_id)


@bp.post("/conversations/<int:conversation_id>/visits/<int:visit_id>/confirm")
@requires_role(*CONVERSATION_ROLES)
def confirm(conversation_id: int, visit_id: int):
    """Confirm a visit on the tenant's behalf, then suggest telling them so."""
    return _change_visit(conversation_id, visit_id, "confirmed")


@bp.post("/conversations/<int:conversation_id>/visits/<int:visit_id>/cancel")
@requires_role(*CONVERSATION_ROLES)
def cancel(conversation_id: int, visit_id: int):
    """Cancel a visit on the tenant's behalf; its pending reminders are dropped."""
    return _change_visit(conversation_id, visit_id, "cancelled")


def _change_visit(conversation_id: int, visit_id: int, new_status: str):
    officer, now = current_officer(), runtime().clock()
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            return _not_yours(conversation_id)
        visit = tenant_visit_or_404(session, conversation, visit_id)
        if not visit.is_open or visit.status == new_status:
            flash(f"This visit is {visit.status}, so it cannot be {new_status} now.", "error")
            return _back_to(conversation_id)

        old_status = visit.status
        if new_status == "confirmed":
            confirm_visit(session, visit, officer.actor)
        else:
            cancel_visit(session, visit, officer.actor)
        detail = {"from_status": old_status}
        audit.record(
            session, officer.id, f"{new_status}_visit", now, conversation=conversation, visit_id=visit.id, detail=detail
        )
    flash(f"Visit {new_status}. A reply telling the tenant is ready below.", "info")
    return _back_to(conversation_id, suggest=new_status, visit=visit_id)


@bp.get("/conversations/<int:conversation_id>/visits/<int:visit_id>/move")
@requires_role(*CONVERSATION_ROLES)
def choose_new_slot(conversation_id: int, visit_id: int):
    """Free slots for this visit: on the day asked for, or the soonest in the next week."""
    now, settings = runtime().clock(), runtime().settings
    day = _day_from(request.args.get("day", ""))
    if day:
        wanted_start = datetime.combine(day, time(0), LONDON)
        wanted_end = wanted_start + timedelta(days=1)
    else:
        wanted_start, wanted_end = now, now + timedelta(days=SEARCH_DAYS_WITHOUT_A_DAY)

    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        visit = tenant_visit_or_404(session, conversation, visit_id)
        slots = _free_slots(session, visit, wanted_start, wanted_end, settings, now, SLOTS_SHOWN)
        return render_template(
            "console/move.html",
            conversation=conversation,
            visit=visit,
            slots=slots,
            day=day,
            mine=is_mine(conversation, current_officer()),
        )


@bp.post("/conversations/<int:conversation_id>/visits/<int:visit_id>/move")
@requires_role(*CONVERSATION_ROLES)
def move(conversation_id: int, visit_id: int):
    """Move the visit to the chosen slot, after checking again that it is a real free slot."""
    officer, now, settings = current_officer(), runtime().clock(), runtime().settings
    start = _moment_from(request.form.get("start", ""))
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            return _not_yours(conversation_id)
        visit = tenant_visit_or_404(session, conversation, visit_id)
        if not visit.is_open or start is None:
            flash("This visit cannot be moved to that time.", "error")
            return _back_to(conversation_id)

        # Only a slot the calendar itself would offer: working hours, skills, notice, no clash.
        length = visit.slot_end - visit.slot_start
        offered = _free_slots(session, visit, start, start + length, settings, now, 1)
        if not offered or offered[0].start != start:
            flash("That time is no longer free. Please choose another.", "error")
            return redirect(url_for("console.choose_new_slot", conversation_id=conversation_id, visit_id=visit_id))

        old_start = visit.slot_start
        try:
            move_visit(session, visit, offered[0], officer.actor, settings, now)
        except SlotTaken:
            flash("That time has just been taken. Please choose another.", "error")
            return redirect(url_for("console.choose_new_slot", conversation_id=conversation_id, visit_id=visit_id))
        detail = {"from": old_start.isoformat(), "to": start.isoformat(), "operative_id": offered[0].operative_id}
        audit.record(
            session, officer.id, "moved_visit", now, conversation=conversation, visit_id=visit.id, detail=detail
        )
    flash("Visit moved. A reply telling the tenant is ready below.", "info")
    return _back_to(conversation_id, suggest="moved", visit=visit_id)


def _free_slots(session, visit, wanted_start, wanted_end, settings, now, limit):
    visit_type = settings.visit_types.get(visit.visit_type, {})
    minutes = int((visit.slot_end - visit.slot_start).total_seconds() // 60)
    return find_free_slots(
        session,
        visit,
        wanted_start,
        wanted_end,
        now=now,
        minutes=minutes,
        skill=visit_type.get("skill"),
        limit=limit,
        search_days=settings.section("assistant").get("search_days", 21),
    )


def _day_from(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if _plausible_year(day.year) else None


def _moment_from(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo and _plausible_year(moment.year) else None


def _plausible_year(year: int) -> bool:
    # Dates at the edge of the calendar overflow the moment anything is added to them.
    return 2000 <= year <= 2100


def _not_yours(conversation_id: int):
    flash("Take over this conversation before acting on it.", "error")
    return _back_to(conversation_id)


def _back_to(conversation_id: int, **suggestion):
    return redirect(url_for("console.conversation", conversation_id=conversation_id, **suggestion))
