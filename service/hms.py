"""Tenants, homes, operatives and visits from the housing management system (HMS), upserted by its references.

Used by the HMS's JSON API (service/hms_api.py) and the CSV import
(service/csv_import.py), so both check and store a record the same way. Each
upsert works inside the caller's transaction and says whether it created,
changed or left the record as it was, so sending the same data twice changes
nothing the second time.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import visits
from service.hms_schemas import Invalid, JobIn, OperativeIn, PropertyIn, TenantIn, VisitIn
from service.slots import Slot, slot_is_free
from store.models import AccessCase, Job, Operative, Property, Tenant, Visit


class UnknownReference(LookupError):
    """The body names a tenant, home or operative we do not have."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(fields.values()))
        self.fields = fields


class Conflict(Exception):
    """The change clashes with what is stored (a phone of another tenant, a taken slot, a closed visit)."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(fields.values()))
        self.fields = fields


@dataclass(frozen=True)
class Change:
    """Who makes a change, and when: actor as visit history names it ("hms:Scheduler", "import:officer:3")."""

    actor: str
    settings: object
    now: datetime


@dataclass(frozen=True)
class Outcome:
    record: object
    created: bool
    changed: bool


# Tenants.


def upsert_tenant(session: Session, reference: str, data: TenantIn, change: Change) -> Outcome:
    tenant = session.scalar(select(Tenant).where(Tenant.reference == reference))
    _phone_is_free(session, data.phone, reference)
    created = tenant is None
    if created:
        tenant = Tenant(reference=reference, whatsapp=False, language="en", preferred_channel="sms")
        session.add(tenant)
    before = _tenant_fields(tenant)

    tenant.name = data.name
    if tenant.phone != data.phone:
        # A new number is not the tenant's until they show it is (see service/identity.py).
        tenant.phone, tenant.phone_verified_at = data.phone, None
    for name in ("whatsapp", "language", "preferred_channel"):
        if getattr(data, name) is not None:
            setattr(tenant, name, getattr(data, name))
    if tenant.preferred_channel == "whatsapp" and not tenant.whatsapp:
        raise Invalid({"preferred_channel": "is whatsapp, but the tenant has no WhatsApp: send whatsapp: true"})

    session.flush()
    return Outcome(tenant, created, created or _tenant_fields(tenant) != before)


def _phone_is_free(session: Session, phone: str, reference: str) -> None:
    owner = session.scalar(select(Tenant).where(Tenant.phone == phone))
    if owner is not None and owner.reference != reference:
        who = f"tenant {owner.reference}" if owner.reference else "another tenant"
        raise Conflict({"phone": f"{phone} already belongs to {who}"})


def _tenant_fields(tenant: Tenant) -> tuple:
    return (tenant.name, tenant.phone, tenant.whatsapp, tenant.language, tenant.preferred_channel)


# Homes.


def upsert_property(session: Session, reference: str, data: PropertyIn, change: Change) -> Outcome:
    tenant_id = None
    if data.tenant_reference:
        tenant_id = _tenant_id(session, data.tenant_reference)
        if tenant_id is None:
            raise UnknownReference({"tenant_reference": f"no tenant has reference {data.tenant_reference}"})

    home = session.scalar(select(Property).where(Property.reference == reference))
    created = home is None
    if created:
        home = Property(reference=reference)
        session.add(home)
    before = _property_fields(home)
    home.address_line1, home.address_line2 = data.address_line1, data.address_line2
    home.town, home.postcode, home.tenant_id = data.town, data.postcode, tenant_id
    session.flush()
    return Outcome(home, created, created or _property_fields(home) != before)


def _property_fields(home: Property) -> tuple:
    return (home.address_line1, home.address_line2, home.town, home.postcode, home.tenant_id)


# Operatives.


def upsert_operative(session: Session, reference: str, data: OperativeIn, change: Change) -> Outcome:
    operative = session.scalar(select(Operative).where(Operative.reference == reference))
    created = operative is None
    if created:
        operative = Operative(reference=reference)
        session.add(operative)
    before = _operative_fields(operative)
    operative.name, operative.skills = data.name, data.skills
    operative.working_hours, operative.active = data.working_hours, data.active
    session.flush()
    return Outcome(operative, created, created or _operative_fields(operative) != before)


def _operative_fields(operative: Operative) -> tuple:
    return (operative.name, operative.skills, operative.working_hours, operative.active)


# Visits.


def upsert_visit(session: Session, reference: str, data: VisitIn, change: Change) -> Outcome:
    """Create the visit (with its reminder plan), or bring it in line: a new slot or operative moves it."""
    tenant, home, operative = _visit_parties(session, data, change.settings)
    visit = session.scalar(select(Visit).where(Visit.reference == reference).with_for_update())
    if visit is None:
        return Outcome(_create_visit(session, reference, data, tenant, home, operative, change), True, True)

    if (visit.tenant_id, visit.property_id) != (tenant.id, home.id):
        raise Conflict({"tenant_reference": "a visit cannot change tenant or home: cancel it and book a new one"})
    operative_id = operative.id if operative else None
    same_slot = (visit.slot_start, visit.slot_end) == (data.slot.start, data.slot.end)
    if same_slot and visit.operative_id == operative_id and visit.visit_type == data.visit_type:
        return Outcome(visit, False, False)
    if not visit.is_open:
        raise Conflict({"slot": f"the visit is {visit.status}: nothing on it can change. Book a new visit."})

    visit.visit_type = data.visit_type
    if not same_slot:
        _move_visit(session, visit, data, operative_id, change)
    elif visit.operative_id != operative_id:
        _reassign(session, visit, operative_id, change)
    return Outcome(visit, False, True)


def _visit_parties(session: Session, data: VisitIn, settings) -> tuple[Tenant, Property, Operative | None]:
    """The tenant, home and operative the visit names, or UnknownReference naming each one we do not have."""
    tenant = session.scalar(select(Tenant).where(Tenant.reference == data.tenant_reference))
    home = session.scalar(select(Property).where(Property.reference == data.property_reference))
    operative = None
    if data.operative_reference:
        operative = session.scalar(select(Operative).where(Operative.reference == data.operative_reference))

    unknown = {}
    if tenant is None:
        unknown["tenant_reference"] = f"no tenant has reference {data.tenant_reference}"
    if home is None:
        unknown["property_reference"] = f"no home has reference {data.property_reference}"
    if data.operative_reference and operative is None:
        unknown["operative_reference"] = f"no operative has reference {data.operative_reference}"
    if unknown:
        raise UnknownReference(unknown)

    if home.tenant_id != tenant.id:
        raise UnknownReference({"property_reference": f"{home.reference} is not tenant {tenant.reference}'s home"})
    skill = settings.visit_types[data.visit_type].get("skill")
    if operative is not None and skill and skill not in (operative.skills or []):
        raise UnknownReference({"operative_reference": f"{operative.reference} has no {skill} skill"})
    return tenant, home, operative


def _create_visit(session, reference, data: VisitIn, tenant, home, operative, change: Change) -> Visit:
    slot = Slot(data.slot.start, data.slot.end, operative.id if operative else None)
    _check_slot(session, slot, change.now, exclude_visit=None)
    visit = Visit(
        reference=reference,
        visit_type=data.visit_type,
        tenant_id=tenant.id,
        property_id=home.id,
        operative_id=slot.operative_id,
        slot_start=slot.start,
        slot_end=slot.end,
        status="booked",
    )
    session.add(visit)
    session.flush()
    visits.record(session, visit, "booked", change.actor)
    visits.plan_reminders(session, visit, change.settings, change.now)
    return visit


def _move_visit(session, visit: Visit, data: VisitIn, operative_id: int | None, change: Change) -> None:
    slot = Slot(data.slot.start, data.slot.end, operative_id)
    _check_slot(session, slot, change.now, exclude_visit=visit.id)
    try:
        # The tenant has not said yes to the new time: it stays booked and they are told it as a new booking.
        visits.move_visit(session, visit, slot, change.actor, change.settings, change.now, agreed=False)
    except visits.SlotTaken as taken:
        raise Conflict({"operative_reference": "the operative already has a visit at that time"}) from taken


def _reassign(session, visit: Visit, operative_id: int | None, change: Change) -> None:
    _check_slot(session, Slot(visit.slot_start, visit.slot_end, operative_id), change.now, exclude_visit=visit.id)
    visit.operative_id = operative_id
    visits.record(session, visit, "reassigned", change.actor)


def _check_slot(session, slot: Slot, now: datetime, exclude_visit: int | None) -> None:
    if slot.start <= now:
        raise Invalid({"slot.start": "is in the past: a visit can only be booked or moved ahead"})
    if slot.operative_id is None:
        return
    # Locked as move_visit does, so two bookings for one operative at once cannot both pass.
    session.execute(select(Operative.id).where(Operative.id == slot.operative_id).with_for_update())
    if not slot_is_free(session, slot, exclude_visit=exclude_visit):
        raise Conflict({"operative_reference": "the operative already has a visit at that time"})


def _tenant_id(session: Session, reference: str) -> int | None:
    return session.scalar(select(Tenant.id).where(Tenant.reference == reference))


# Jobs: work pending at a home (see service/jobs.py).


def upsert_job(session: Session, reference: str, data: JobIn, change: Change) -> Outcome:
    home = session.scalar(select(Property).where(Property.reference == data.property_reference))
    if home is None:
        raise UnknownReference({"property_reference": f"no home has reference {data.property_reference}"})
    job = session.scalar(select(Job).where(Job.reference == reference).with_for_update())
    created = job is None
    if created:
        job = Job(reference=reference, source="hms", property_id=home.id)
        session.add(job)
    elif job.property_id != home.id:
        raise Conflict({"property_reference": "a job cannot move to another home: close it and send a new one"})
    elif job.source != "hms":
        # An operative's report (their words about the home) is not the housing system's to overwrite.
        raise Conflict({"reference": "this job was reported by an operative: send your own job reference"})

    before = None if created else _job_fields(job)
    # A job the tenant agreed to have in a visit stays booked: "open" again would offer it twice.
    status = "booked" if job.status == "booked" and data.status == "open" else data.status
    job.kind, job.status, job.notes, job.due_by = data.kind, status, data.notes, data.due_by
    session.flush()
    return Outcome(job, created, created or before != _job_fields(job))


def _job_fields(job: Job) -> tuple:
    return (job.kind, job.status, job.notes, job.due_by)


# Reading back.


def tenant_answer(session: Session, tenant: Tenant) -> dict:
    return {
        "reference": tenant.reference,
        "name": tenant.name,
        "phone": tenant.phone,
        "whatsapp": tenant.whatsapp,
        "language": tenant.language,
        "preferred_channel": tenant.preferred_channel,
        "phone_verified": tenant.phone_verified_at is not None,
        "sms_opted_out": bool(tenant.sms_opted_out),
        "whatsapp_opted_out": bool(tenant.whatsapp_opted_out),
    }


def property_answer(session: Session, home: Property) -> dict:
    return {
        "reference": home.reference,
        "address_line1": home.address_line1,
        "address_line2": home.address_line2,
        "town": home.town,
        "postcode": home.postcode,
        "tenant_reference": home.tenant.reference if home.tenant else None,
    }


def operative_answer(session: Session, operative: Operative) -> dict:
    return {
        "reference": operative.reference,
        "name": operative.name,
        "skills": list(operative.skills or []),
        "working_hours": dict(operative.working_hours or {}),
        "active": operative.active,
    }


def visit_answer(session: Session, visit: Visit) -> dict:
    return {
        "reference": visit.reference,
        "visit_type": visit.visit_type,
        "status": visit.status,
        "tenant_reference": visit.tenant.reference,
        "property_reference": visit.home.reference,
        "operative_reference": visit.operative.reference if visit.operative else None,
        "slot": {"start": visit.slot_start.isoformat(), "end": visit.slot_end.isoformat()},
        "operative_status": visit.operative_status,
        "missed_by_provider": visit.missed_by_provider_at is not None,
        "case": case_answer(session, visit),
    }


def case_answer(session: Session, visit: Visit) -> dict | None:
    """The no-access case for this tenant and kind of visit (see service/no_access.py): the open one, else the latest.

    None when the policy has never opened one.
    """
    case = session.scalar(
        select(AccessCase)
        .where(AccessCase.tenant_id == visit.tenant_id, AccessCase.visit_type == visit.visit_type)
        .order_by((AccessCase.status == "open").desc(), AccessCase.opened_at.desc(), AccessCase.id.desc())
        .limit(1)
    )
    if case is None:
        return None
    return {
        "status": case.status,
        "visit_type": case.visit_type,
        "opened_at": case.opened_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "outcome": case.outcome,
        "counted_attempts": sum(1 for attempt in case.attempts if attempt.counted),
    }


def job_answer(session: Session, job: Job) -> dict:
    return {
        "reference": job.reference,
        "kind": job.kind,
        "property_reference": job.home.reference,
        "status": job.status,
        "source": job.source,
        "notes": job.notes,
        "due_by": job.due_by.isoformat() if job.due_by else None,
        "finding": job.finding,
        "visit_reference": job.visit.reference if job.visit else None,
    }
