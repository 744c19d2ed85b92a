"""/api/v1: for operatives' apps and scheduling systems. JSON in and out, an API key on every request.

    POST /api/v1/visits/<reference>/status  {"status": "on_my_way", "eta": "2026-12-05T10:40:00Z", "note": "..."}
                                            {"status": "no_access", "note": "..", "photo_ref": "..", "card_left": true}
    GET  /api/v1/visits/<reference>         the slot, the day's status and ETA, and what the tenant said
    POST /api/v1/visits/<reference>/findings {"kind": "damp", "note": "...", "photo_ref": "..."}: what they noticed

The key goes in `Authorization: Bearer <key>` (see api_keys.py). No key, or one
we do not know: 401. A key without the scope: 403. A body we cannot use: 400
saying what to send. An unknown reference: 404. A visit already over, or a report days from its slot: 409.
The answers carry no tenant name, address or phone number.
"""

import logging
from dataclasses import asdict
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from service import adjustments, api_keys, jobs, on_the_way, operatives
from service.hms_schemas import FindingIn, Invalid, read
from store.db import transaction
from store.models import Visit

log = logging.getLogger(__name__)
api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
OPERATIVE_STATUS = "operative_status"


def runtime():
    return current_app.extensions["assistant"]


def error(status: int, message: str, fields: dict[str, str] | None = None):
    body = {"error": message}
    if fields:
        body["fields"] = fields
    return jsonify(body), status


def requires_scope(scope: str):
    """Let the request through only with an active key that holds `scope`."""

    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            with transaction(runtime().sessions) as session:
                key = api_keys.key_for(session, presented)
                name, scopes = (key.name, list(key.scopes or [])) if key else (None, [])
            if name is None:
                return error(401, "send a valid API key as 'Authorization: Bearer <key>'")
            if scope not in scopes:
                log.warning("api key without the scope", extra={"api_key": name, "scope": scope})
                return error(403, f"this API key may not use {scope}")
            g.api_key_name = name
            return view(*args, **kwargs)

        return checked

    return decorate


@api_bp.post("/visits/<reference>/status")
@requires_scope(OPERATIVE_STATUS)
def report_status(reference):
    """What the operative is doing about this visit now."""
    # Read as JSON whatever the Content-Type says: a scheduling system may not set it.
    body = request.get_json(silent=True, force=True)
    try:
        report = operatives.read_report(body, runtime().clock(), runtime().settings)
    except operatives.InvalidReport as problem:
        return error(400, str(problem))
    except OverflowError:
        # A date at the very edge of the calendar, shifted by its offset, falls off it.
        return error(400, "eta is not a usable time: send it as HH:MM today or an ISO-8601 time")
    try:
        outcome = on_the_way.report(runtime(), reference, report, g.api_key_name)
    except on_the_way.UnknownVisit:
        return error(404, "no visit has that reference")
    except on_the_way.NotToday as problem:
        return error(409, str(problem))
    except operatives.VisitClosed as closed:
        return error(409, f"this visit is {closed}: nothing was recorded. Please call the office.")
    log.info("operative status", extra={"api_key": g.api_key_name, "status": report.status})
    with transaction(runtime().sessions) as session:
        answer = visit_answer(session, session.get(Visit, outcome["visit_id"]))
    return jsonify({**answer, "tenant_texted": outcome["tenant_texted"]})


@api_bp.post("/visits/<reference>/findings")
@requires_scope(OPERATIVE_STATUS)
def report_finding(reference):
    """Something the operative noticed at the home: a job for it, or a task for a safeguarding officer."""
    body = request.get_json(silent=True, force=True)
    try:
        finding = read(FindingIn, body, runtime().settings)
    except Invalid as problem:
        return error(400, "some fields cannot be used", fields=problem.fields)

    with transaction(runtime().sessions) as session:
        visit = session.scalar(select(Visit).where(Visit.reference == reference))
        if visit is None:
            return error(404, "no visit has that reference")
        reporter = f"operative:{g.api_key_name}"
        recorded = jobs.record_finding(session, visit, finding.kind, finding.note, finding.photo_ref, reporter)

    # The note may name a person or their health: only the kind is logged.
    log.info("operative finding", extra={"api_key": g.api_key_name, "kind": finding.kind})
    answer = {"visit_reference": reference, "kind": finding.kind, **asdict(recorded)}
    return jsonify(answer), 201


@api_bp.get("/visits/<reference>")
@requires_scope(OPERATIVE_STATUS)
def visit_status(reference):
    """The visit as the operative needs it on the day, with what the tenant has told us since they set off."""
    with transaction(runtime().sessions) as session:
        visit = session.scalar(select(Visit).where(Visit.reference == reference))
        if visit is None:
            return error(404, "no visit has that reference")
        return jsonify(visit_answer(session, visit))


def visit_answer(session, visit: Visit) -> dict:
    return {
        "reference": visit.reference,
        "status": visit.status,
        "operative_status": visit.operative_status,
        "slot": {"start": visit.slot_start.isoformat(), "end": visit.slot_end.isoformat()},
        "eta": visit.eta.isoformat() if visit.eta else None,
        "missed_by_provider": visit.missed_by_provider_at is not None,
        # What to do at the door for this tenant's needs; never the need itself.
        "briefing": adjustments.briefing_for(session, visit),
        "tenant_replies": operatives.replies_for_operative(session, visit),
    }
