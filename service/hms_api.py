"""/api/v1/hms: the housing management system's JSON API, and /api/v1/openapi.json describing all of /api/v1.

    PUT /api/v1/hms/tenants/<reference>      create or update (hms_write); 201 created, 200 updated
    PUT /api/v1/hms/properties/<reference>
    PUT /api/v1/hms/operatives/<reference>
    PUT /api/v1/hms/visits/<reference>       a new slot moves the visit and re-plans its reminders
    PUT /api/v1/hms/jobs/<reference>         work pending at a home, offered as part of a visit there
    GET the same addresses                   read them back (hms_read); a visit with its no-access case

A body we cannot use: 400 with a reason per field. A reference in the body that
we do not have: 422. A clash with what is stored (a phone number of another
tenant, a taken slot, a closed visit): 409. Keys and scopes as in api.py.
"""

import logging
from dataclasses import dataclass

from flask import g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service import hms, openapi
from service.api import api_bp, error, requires_scope, runtime
from service.hms_schemas import Invalid, JobIn, OperativeIn, PropertyIn, TenantIn, VisitIn, read, reference_problem
from store.db import transaction
from store.models import Job, Operative, Property, Tenant, Visit

log = logging.getLogger(__name__)
HMS_WRITE = "hms_write"
HMS_READ = "hms_read"


@dataclass(frozen=True)
class Kind:
    """One kind of record: what its body must be, how it is stored and how it is answered."""

    name: str
    model: type
    upsert: object
    table: type
    answer: object
    longest_reference: int = 64


KINDS = {
    "tenants": Kind("tenant", TenantIn, hms.upsert_tenant, Tenant, hms.tenant_answer),
    "properties": Kind("property", PropertyIn, hms.upsert_property, Property, hms.property_answer),
    "operatives": Kind("operative", OperativeIn, hms.upsert_operative, Operative, hms.operative_answer),
    "visits": Kind("visit", VisitIn, hms.upsert_visit, Visit, hms.visit_answer, longest_reference=32),
    "jobs": Kind("job", JobIn, hms.upsert_job, Job, hms.job_answer),
}


@api_bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of /api/v1; no key needed."""
    return jsonify(openapi.document(runtime().settings))


def upsert(kind: Kind, reference: str):
    """Create or update the record with this reference; 201 when created, 200 otherwise."""
    bad_reference = reference_problem(reference, kind.longest_reference)
    if bad_reference:
        return error(400, "the reference cannot be used", fields={"reference": bad_reference})
    # Read as JSON whatever the Content-Type says, as the operatives' API does.
    try:
        body = request.get_json(silent=True, force=True)
    except RecursionError:
        return error(400, "the body is nested too deeply to be a record")
    try:
        data = read(kind.model, body, runtime().settings)
        change = hms.Change(actor=f"hms:{g.api_key_name}", settings=runtime().settings, now=runtime().clock())
        with transaction(runtime().sessions) as session:
            outcome = kind.upsert(session, reference, data, change)
            answer = kind.answer(session, outcome.record)
    except Invalid as problem:
        return error(400, "some fields cannot be used", fields=problem.fields)
    except OverflowError:
        # A time at the very edge of the calendar, shifted by its offset, falls off it.
        return error(400, "a time in the body is outside the range we can store")
    except hms.UnknownReference as problem:
        return error(422, "the body names records we do not have", fields=problem.fields)
    except hms.Conflict as problem:
        return error(409, "this clashes with what is stored", fields=problem.fields)
    except IntegrityError:
        # Two calls created the same reference at once: the other one won; this one can simply be sent again.
        return error(409, "the record changed while this was stored: send it again")
    log.info("hms upsert", extra={"api_key": g.api_key_name, "kind": kind.name, "new_record": outcome.created})
    return jsonify(answer), 201 if outcome.created else 200


def read_back(kind: Kind, reference: str):
    """The record as we hold it."""
    with transaction(runtime().sessions) as session:
        found = session.scalar(select(kind.table).where(kind.table.reference == reference))
        if found is None:
            return error(404, f"no {kind.name} has that reference")
        return jsonify(kind.answer(session, found))


def _register(plural: str, kind: Kind) -> None:
    path = f"/hms/{plural}/<reference>"
    put = requires_scope(HMS_WRITE)(lambda reference: upsert(kind, reference))
    get = requires_scope(HMS_READ)(lambda reference: read_back(kind, reference))
    api_bp.add_url_rule(path, endpoint=f"put_{kind.name}", view_func=put, methods=["PUT"])
    api_bp.add_url_rule(path, endpoint=f"get_{kind.name}", view_func=get, methods=["GET"])


for _plural, _kind in KINDS.items():
    _register(_plural, _kind)
