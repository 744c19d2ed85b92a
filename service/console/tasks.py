"""Tasks: what the assistant and the system have asked a person to do.

Every promise "someone from our team will contact you" and every alert (a
stranger at the door, a call the tenant asked for, a send that may not have
arrived, an opt-out after a reminder) is an officer task. This page lists the
open ones, urgent kinds first, and an officer marks each done; both the list
and the action follow the console's visibility rules (safeguarding tasks and
tenants in discreet contact are for safeguarding officers only).
"""

from flask import flash, redirect, render_template, url_for
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, selectinload

from service.console import audit
from service.console.access import SAFEGUARDING_REASON, sees_safeguarding, visible_tenants
from service.console.blueprint import CONVERSATION_ROLES, bp, current_officer, requires_role, runtime
from store.db import transaction
from store.models import Conversation, OfficerTask

TASK_LIMIT = 500
# Shown first: someone may be at risk or waiting on a person right now.
URGENT_KINDS = ("urgent_safety", "unexpected_caller", "safeguarding", "opted_out_after_reminder", "message_flood")
LABELS = {
    "urgent_safety": "Emergency message: safety advice sent",
    "unexpected_caller": "Someone at the tenant's door we did not send",
    "safeguarding": "Safeguarding",
    "call_before_visit": "Phone the tenant the day before their visit",
    "adjustment": "Arrange what the tenant needs",
    "handoff": "The tenant asked for a person",
    "not_understood": "The assistant could not understand the tenant",
    "contact_times": "Tenant asks to be texted at other times",
    "visit_cancelled": "Visit cancelled by the tenant: offer a new date",
    "opted_out_after_reminder": "Opted out just after a reminder: phone them",
    "tenant_opted_out": "Tenant asked for no more texts",
    "reply_blocked_by_opt_out": "Tenant wrote while opted out",
    "check_contact_details": "Message undeliverable: check contact details",
    "send_failed": "A message could not be sent",
    "send_unconfirmed": "A send was interrupted: check it arrived",
    "assistant_unavailable": "The assistant could not answer",
    "media_received": "Photo, voice note or location received",
    "long_message": "Long message to read",
    "identity_check_failed": "Number could not be checked as the tenant's",
    "message_flood": "Many messages in a minute from one number",
    "erasure": "Tenant's notes deleted at their request",
    "missed_by_provider": "We missed a visit: rebook",
    "tenant_not_in": "Tenant cannot be in: tell the operative",
    "change_at_door": "Tenant asks to cancel or move while the operative is there",
    "visit_disputed": "Tenant says nobody came, operative reported a visit",
    "nobody_came": "Tenant says nobody came",
    "escalated": "Escalated to the specialist team",
}


def label(kind: str) -> str:
    return LABELS.get(kind, kind.replace("_", " ").capitalize())


@bp.get("/tasks")
@requires_role(*CONVERSATION_ROLES)
def tasks():
    officer = current_officer()
    with transaction(runtime().sessions) as session:
        open_tasks = open_tasks_for(session, officer.role)
        return render_template("console/tasks.html", tasks=open_tasks, label=label, urgent=URGENT_KINDS)


@bp.post("/tasks/<int:task_id>/done")
@requires_role(*CONVERSATION_ROLES)
def task_done(task_id: int):
    officer = current_officer()
    with transaction(runtime().sessions) as session:
        task = session.scalar(select(OfficerTask).where(OfficerTask.id == task_id, _visible(officer.role)))
        if task is None or task.status != "open":
            flash("That task is not open (a colleague may have done it).", "error")
            return redirect(url_for("console.tasks"))
        task.status = "done"
        conversation = session.get(Conversation, task.conversation_id) if task.conversation_id else None
        detail = {"task_id": task.id, "kind": task.kind}
        audit.record(
            session,
            officer.id,
            "task_done",
            runtime().clock(),
            conversation=conversation,
            tenant_id=task.tenant_id,
            visit_id=task.visit_id,
            detail=detail,
        )
    flash("Task marked done.", "info")
    return redirect(url_for("console.tasks"))


def open_tasks_for(session: Session, role: str) -> list[OfficerTask]:
    urgent_first = OfficerTask.kind.in_(URGENT_KINDS).desc()
    return list(
        session.scalars(
            select(OfficerTask)
            .where(OfficerTask.status == "open", _visible(role))
            .options(selectinload(OfficerTask.tenant))
            .order_by(urgent_first, OfficerTask.created_at.desc(), OfficerTask.id.desc())
            .limit(TASK_LIMIT)
        )
    )


def _visible(role: str):
    """Safeguarding tasks, and any task about a tenant only safeguarding officers may see, for them only."""
    if sees_safeguarding(role):
        return OfficerTask.id.is_not(None)
    safeguarding_conversation = exists().where(
        Conversation.id == OfficerTask.conversation_id, Conversation.handoff_reason == SAFEGUARDING_REASON
    )
    return and_(
        OfficerTask.kind != "safeguarding",
        or_(OfficerTask.tenant_id.is_(None), visible_tenants(role, OfficerTask.tenant_id)),
        ~safeguarding_conversation,
    )
