"""The specialist team's no-access cases: the queue, one case with its full history, actions, closing, evidence.

A case opens when the no-access policy counts enough failed attempts (see
service/no_access.py). Specialists and admins work the queue; a case whose
tenant has a restricted note (or a conversation handed over for
safeguarding) exists only for safeguarding officers, as everywhere in the
console (access.py). Every action on a case, every closing and every evidence
download is written to the audit trail with the case and the tenant.

Evidence downloads (CSV and PDF) are here for a case and for any one visit.
An officer records a letter sent about a visit from the conversation page, so
that an attempt at that visit counts as notified in writing.
"""

import logging
from datetime import date, datetime, time

from flask import Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from service import evidence, no_access
from service.console import access, audit
from service.console.blueprint import CONVERSATION_ROLES, bp, current_officer, requires_role, runtime
from service.console.views import conversation_or_404, is_mine, printable, tenant_visit_or_404
from store.db import transaction
from store.models import AccessAttempt, AccessCase, Visit

log = logging.getLogger(__name__)

# The specialist team and admins; safeguarding officers for the cases only they may see.
CASE_ROLES = ("specialist", "admin", "safeguarding")
MAX_NOTE_CHARS = 2000
ACTION_KINDS = {
    "note": "Note",
    "phone_call": "Phone call",
    "letter_sent": "Letter sent",
    "home_visit": "Home visit",
    "joint_visit": "Joint visit (with another agency)",
    "referral": "Referral",
}
OUTCOMES = {
    "access_gained": "Access gained",
    "visit_completed": "Visit completed",
    "legal_referral": "Referred to legal",
    "tenant_moved": "Tenant has moved",
    "other": "Other (say why in the note)",
}
FORMATS = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


@bp.get("/cases")
@requires_role(*CASE_ROLES)
def cases():
    """Open no-access cases, the longest open first (or the closed ones, newest first)."""
    closed = request.args.get("status") == "closed"
    with transaction(runtime().sessions) as session:
        found = _cases(session, current_officer().role, closed)
        attempts = _attempt_counts(session, [case.id for case in found])
        return render_template(
            "console/cases.html", cases=found, attempts=attempts, closed=closed, now=runtime().clock()
        )


@bp.get("/cases/<int:case_id>")
@requires_role(*CASE_ROLES)
def case(case_id: int):
    """One case: the tenant, every attempt, every visit, the full history, actions and closing."""
    now = runtime().clock()
    with transaction(runtime().sessions) as session:
        found = case_or_404(session, case_id)
        record = evidence.for_case(session, found, now)
        visits = list(
            session.scalars(
                select(Visit)
                .where(Visit.tenant_id == found.tenant_id, Visit.visit_type == found.visit_type)
                .order_by(Visit.slot_start)
            )
        )
        return render_template(
            "console/case.html",
            case=found,
            attempts=found.attempts,
            visits=visits,
            record=record,
            next_visit=no_access.next_visit(session, found, now),
            action_kinds=ACTION_KINDS,
            outcomes=OUTCOMES,
            threshold=no_access.policy(runtime().settings).case_after(found.visit_type),
        )


@bp.post("/cases/<int:case_id>/actions")
@requires_role(*CASE_ROLES)
def record_case_action(case_id: int):
    """What an officer did about the case: a call, a letter, a visit, a referral or a note."""
    officer, now = current_officer(), runtime().clock()
    kind, note = request.form.get("kind", ""), printable(request.form.get("note", ""))
    with transaction(runtime().sessions) as session:
        found = case_or_404(session, case_id)
        if kind not in ACTION_KINDS:
            return _refused(case_id, "Choose what kind of action this was.")
        if not note or len(note) > MAX_NOTE_CHARS:
            return _refused(case_id, f"Say what was done, in 1 to {MAX_NOTE_CHARS} characters.")
        try:
            action = no_access.record_case_action(session, found, officer.id, kind, note, now)
        except no_access.CaseClosed:
            return _refused(case_id, "This case is closed: nothing more can be recorded on it.")
        detail = {"case_id": case_id, "action_id": action.id, "kind": kind}
        audit.record(session, officer.id, "recorded_case_action", now, tenant_id=found.tenant_id, detail=detail)
    log.info("case action recorded", extra={"officer_id": officer.id, "case_id": case_id, "kind": kind})
    flash(f"Recorded: {ACTION_KINDS[kind]}.", "info")
    return _back_to(case_id)


@bp.post("/cases/<int:case_id>/close")
@requires_role(*CASE_ROLES)
def close_case(case_id: int):
    """Close the case with how it ended; without an outcome nothing changes."""
    officer, now = current_officer(), runtime().clock()
    outcome, note = request.form.get("outcome", ""), printable(request.form.get("note", ""))
    with transaction(runtime().sessions) as session:
        found = case_or_404(session, case_id)
        if len(note) > MAX_NOTE_CHARS:
            return _refused(case_id, f"The note can be at most {MAX_NOTE_CHARS} characters.")
        try:
            no_access.close_case(session, found, officer.id, outcome, note, now)
        except no_access.OutcomeRequired:
            return _refused(case_id, "Choose how the case ended before closing it.")
        except no_access.CaseClosed:
            return _refused(case_id, "This case is already closed.")
        detail = {"case_id": case_id, "outcome": outcome}
        audit.record(session, officer.id, "closed_case", now, tenant_id=found.tenant_id, detail=detail)
    log.info("case closed", extra={"officer_id": officer.id, "case_id": case_id, "outcome": outcome})
    flash(f"Case closed: {OUTCOMES[outcome]}.", "info")
    return _back_to(case_id)


@bp.get("/cases/<int:case_id>/evidence.<any(csv, pdf):fmt>")
@requires_role(*CASE_ROLES)
def case_evidence(case_id: int, fmt: str):
    """The case's full chronological record, for a legal team."""
    officer, now = current_officer(), runtime().clock()
    with transaction(runtime().sessions) as session:
        found = case_or_404(session, case_id)
        record = evidence.for_case(session, found, now)
        detail = {"case_id": case_id, "format": fmt}
        audit.record(session, officer.id, "exported_evidence", now, tenant_id=found.tenant_id, detail=detail)
    return _download(record, fmt)


@bp.get("/visits/<int:visit_id>/evidence.<any(csv, pdf):fmt>")
@requires_role(*CASE_ROLES)
def visit_evidence(visit_id: int, fmt: str):
    """One visit's full chronological record: notices, messages, attempts, officers' actions."""
    officer, now = current_officer(), runtime().clock()
    with transaction(runtime().sessions) as session:
        visit = session.get(Visit, visit_id)
        if visit is None or not access.may_see_tenant(session, officer.role, visit.tenant_id):
            abort(404)
        record = evidence.for_visit(session, visit, now)
        detail = {"visit_id": visit_id, "format": fmt}
        audit.record(
            session, officer.id, "exported_evidence", now, visit_id=visit.id, tenant_id=visit.tenant_id, detail=detail
        )
    return _download(record, fmt)


@bp.post("/conversations/<int:conversation_id>/visits/<int:visit_id>/letter")
@requires_role(*CONVERSATION_ROLES)
def record_letter(conversation_id: int, visit_id: int):
    """A letter sent to the tenant about this visit's slot: written notice, for the no-access policy."""
    officer, now = current_officer(), runtime().clock()
    sent_on, note = _date_from(request.form.get("sent_on", "")), printable(request.form.get("note", ""))
    page = url_for("console.conversation", conversation_id=conversation_id)
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            flash("Take over this conversation before acting on it.", "error")
            return redirect(page)
        visit = tenant_visit_or_404(session, conversation, visit_id)
        if not visit.is_open or sent_on is None or sent_on > _london_today(now) or len(note) > MAX_NOTE_CHARS:
            flash("Give the date the letter was sent (today or earlier) for a visit still booked.", "error")
            return redirect(page)
        sent_at = now if sent_on == _london_today(now) else datetime.combine(sent_on, time(12), no_access.LONDON)
        no_access.record_letter(session, visit, officer.actor, sent_at, note)
        detail = {"sent_on": sent_on.isoformat()}
        audit.record(
            session, officer.id, "recorded_letter", now, conversation=conversation, visit_id=visit.id, detail=detail
        )
    flash("Letter recorded against the visit.", "info")
    return redirect(page + f"#visit-{visit_id}")


# Shared by the case pages.


def case_or_404(session: Session, case_id: int) -> AccessCase:
    """The case, if the officer may see its tenant; a safeguarding tenant's case is not found for other roles."""
    found = session.get(AccessCase, case_id)
    if found is None or not access.may_see_tenant(session, current_officer().role, found.tenant_id):
        abort(404)
    return found


def _cases(session: Session, role: str, closed: bool) -> list[AccessCase]:
    query = (
        select(AccessCase)
        .where(
            AccessCase.status == ("closed" if closed else "open"), access.visible_tenants(role, AccessCase.tenant_id)
        )
        .options(selectinload(AccessCase.tenant), selectinload(AccessCase.home))
    )
    order = (AccessCase.closed_at.desc(),) if closed else (AccessCase.opened_at.asc(), AccessCase.id)
    return list(session.scalars(query.order_by(*order)))


def _attempt_counts(session: Session, case_ids: list[int]) -> dict[int, int]:
    if not case_ids:
        return {}
    rows = session.execute(
        select(AccessAttempt.case_id, func.count())
        .where(AccessAttempt.case_id.in_(case_ids), AccessAttempt.counted.is_(True))
        .group_by(AccessAttempt.case_id)
    )
    return dict(rows.all())


def _download(record: evidence.Evidence, fmt: str) -> Response:
    if fmt == "csv":
        body = evidence.to_csv(record).encode("utf-8-sig")
    else:
        from service.evidence_pdf import to_pdf  # fpdf2 and its fonts load only when a PDF is asked for

        body = to_pdf(record)
    response = Response(body, mimetype=FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{record.name}.{fmt}"'
    return response


def _date_from(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if 2000 <= day.year <= 2100 else None


def _london_today(now: datetime) -> date:
    return now.astimezone(no_access.LONDON).date()


def _refused(case_id: int, note: str):
    flash(note, "error")
    return _back_to(case_id)


def _back_to(case_id: int):
    return redirect(url_for("console.case", case_id=case_id))
