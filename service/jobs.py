"""Other work pending at a home, done in a visit already booked there: "make every visit count".

A job is a check, survey or repair a home needs that has no visit of its own
yet: the HMS sends them (PUT /api/v1/hms/jobs/<reference>), and operatives
report what they notice on any visit (POST /api/v1/visits/<reference>/findings).
When a tenant moves a visit, open jobs at the same home are offered as one
longer visit, if an operative with every skill needed is free for all of it;
nothing is added without the tenant's explicit yes.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import adjustments, visits
from service.slots import Slot, combined_slot
from store.models import Job, OfficerTask, Operative, Visit

# A finding an operative reports becomes a job of this visit type...
FINDING_JOB_KINDS = {"damp": "damp_survey", "mould": "damp_survey", "disrepair": "repair", "other": "repair"}
# ...except concerns about a person, which a safeguarding officer picks up, never a booking.
FINDING_TASKS = ("hoarding", "safeguarding")
MAX_REFERENCE_TRIES = 50


class JobsGone(Exception):
    """Between the offer and the tenant's yes a job was booked elsewhere or the time stopped being free."""


@dataclass(frozen=True)
class Offer:
    jobs: list[Job]
    slot: Slot


def open_jobs_at(session: Session, settings, visit: Visit) -> list[Job]:
    """Open jobs at the visit's home that another kind of visit could do, the most urgent first."""
    kinds = [kind for kind in settings.visit_types if kind != visit.visit_type]
    found = session.scalars(
        select(Job)
        .where(Job.property_id == visit.property_id, Job.status == "open", Job.kind.in_(kinds))
        .order_by(Job.due_by.is_(None), Job.due_by, Job.id)
    )
    return list(found)


def combined_offer(session: Session, settings, visit: Visit) -> Offer | None:
    """As many open jobs as fit into the visit's slot made longer, or None when none do.

    Jobs are added one at a time, most urgent first, keeping each that still fits.
    """
    chosen: list[Job] = []
    slot = None
    for job in open_jobs_at(session, settings, visit):
        fits = _slot_for(session, settings, visit, [*chosen, job])
        if fits:
            chosen, slot = [*chosen, job], fits
    return Offer(chosen, slot) if slot else None


def add_to_visit(session: Session, settings, visit: Visit, job_ids: list, actor: str, now: datetime, message_id=None):
    """Book the jobs into the visit, its slot made longer, in the caller's transaction; JobsGone if that cannot be."""
    wanted = select(Job).where(Job.id.in_(job_ids), Job.property_id == visit.property_id, Job.status == "open")
    jobs = list(session.scalars(wanted.with_for_update()))
    if not job_ids or len(jobs) != len(set(job_ids)):
        raise JobsGone()

    # Find the operative, lock their row as a move does, then check again: two bookings at once cannot both pass.
    slot = _slot_for(session, settings, visit, jobs)
    if slot is None:
        raise JobsGone()
    session.execute(select(Operative.id).where(Operative.id == slot.operative_id).with_for_update())
    slot = _slot_for(session, settings, visit, jobs)
    if slot is None:
        raise JobsGone()

    if slot.operative_id != visit.operative_id:
        visit.doorstep_code = None  # the code is said by the operative who comes
    visit.slot_end, visit.operative_id = slot.end, slot.operative_id
    for job in jobs:
        job.status, job.visit_id = "booked", visit.id

    note = "Added to this visit: " + ", ".join(f"{job.kind} ({job.reference})" for job in jobs)
    visits.record(session, visit, "combined", actor, note=note, message_id=message_id, at=now)
    visits.plan_reminders(session, visit, settings, now, keep_sent=True)
    return jobs


def _slot_for(session: Session, settings, visit: Visit, jobs: list[Job]) -> Slot | None:
    types = settings.visit_types
    skills = {types[kind].get("skill") for kind in [visit.visit_type, *(job.kind for job in jobs)]} - {None}
    # The visit keeps the length it has (longer already for a tenant who needs more time); each job adds its own.
    extra = sum(types[job.kind].get("minutes", 60) for job in jobs)
    extra = adjustments.slot_minutes(session, visit.tenant_id, extra, settings.section("adjustments"))
    booked = int((visit.slot_end - visit.slot_start).total_seconds() // 60)
    region = settings.section("service").get("bank_holidays", "ENG")
    return combined_slot(session, visit, booked + extra, skills, region)


# What operatives notice on any visit.


@dataclass(frozen=True)
class Recorded:
    recorded_as: str  # job or officer_task
    job_reference: str | None


def record_finding(session: Session, visit: Visit, kind: str, note: str, photo_ref, reporter: str) -> Recorded:
    """A job for the home, or a safeguarding task for a concern about a person."""
    if kind in FINDING_TASKS:
        detail = f"{reporter} reported a {kind} concern on visit {visit.reference}: {note}"
        if photo_ref:
            detail += f" (photo: {photo_ref})"
        session.add(OfficerTask(kind="safeguarding", tenant_id=visit.tenant_id, visit_id=visit.id, detail=detail))
        return Recorded("officer_task", None)

    # The next free "<visit>-F<n>": the housing system may already use one, or a colleague's
    # report may take it at the same moment, so a taken one moves on to the next number.
    number = _findings_on(session, visit)
    for _attempt in range(MAX_REFERENCE_TRIES):
        number += 1
        reference = f"{visit.reference}-F{number}"
        if session.scalar(select(Job.id).where(Job.reference == reference)) is not None:
            continue
        job = Job(
            reference=reference,
            property_id=visit.property_id,
            kind=FINDING_JOB_KINDS[kind],
            status="open",
            source="operative_report",
            notes=note,
            finding=kind,
            photo_ref=photo_ref,
            reported_on_visit_id=visit.id,
        )
        try:
            with session.begin_nested():
                session.add(job)
        except IntegrityError:
            continue
        return Recorded("job", job.reference)
    raise RuntimeError(f"no free finding reference for visit {visit.reference}")


def _findings_on(session: Session, visit: Visit) -> int:
    return len(session.scalars(select(Job.id).where(Job.reported_on_visit_id == visit.id)).all())
