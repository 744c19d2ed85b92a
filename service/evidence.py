"""The evidence record for a visit or a no-access case: everything that happened, in order, as CSV or PDF.

A landlord's defence when a tenant does not let them in is proof of "all
reasonable steps": dated notices and reminders with their delivery status,
booked attempts with the operatives' notes, what the tenant said, and what
officers did. This gathers all of it from the store, each line with its time in
UTC and in London time, oldest first:

- every change in the visit's history (booked, confirmed, moved, letters, on the day),
- every message to and from the tenant, with its delivery status and Twilio id,
- every failed attempt, with the operative's notes and what the policy made of it,
- every officer action in the console (the audit trail) and every need on record,
- for a case, its opening, the officers' actions on it and its closing.

The CSV has one header row and one row per line. The PDF (evidence_pdf.py) is
the same lines laid out for a legal team.
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service import i18n
from service.spreadsheets import csv_text
from store.models import (
    AccessAttempt,
    AccessCase,
    Adjustment,
    AuditEntry,
    Conversation,
    Message,
    Officer,
    Property,
    Tenant,
    Visit,
    VisitEvent,
)

LONDON = ZoneInfo("Europe/London")
COLUMNS = ("at_utc", "at_london", "what", "visit", "by", "channel", "delivery_status", "text", "detail")
# Lines at the same moment keep the order things happen in: the visit, the attempt, then what followed.
ORDER = {
    "Visit event": 0,
    "Access attempt": 1,
    "Case opened": 2,
    "Message to tenant": 3,
    "Message from tenant": 4,
    "Need recorded": 5,
    "Officer action": 6,
    "Case action": 7,
    "Case closed": 8,
}
EVENT_LABELS = {
    "booked": "Booked",
    "confirmed": "Confirmed",
    "cancelled": "Cancelled",
    "moved": "Moved to a new slot",
    "completed": "Completed",
    "no_access": "No access: the operative could not get in",
    "no_access_off_slot": "No access reported well outside the slot (our miss, not an attempt)",
    "missed_by_provider": "Missed by us (not the tenant's failed attempt)",
    "letter_sent": "Letter sent to the tenant",
    "on_my_way": "Operative on the way",
    "running_late": "Operative running late",
    "arrived": "Operative arrived",
    "tenant_not_in": "Tenant said they could not be in",
    "change_at_door": "Tenant asked to cancel or move while the operative was there",
}
ACTORS = {"tenant": "tenant", "assistant": "assistant", "system": "booking system"}


@dataclass(frozen=True)
class Row:
    at: datetime
    what: str
    visit: str = ""
    by: str = ""
    channel: str = ""
    status: str = ""
    text: str = ""
    detail: str = ""
    # Ties at one moment: ORDER, then the order the store kept them in.
    sequence: int = 0

    def cells(self) -> list[str]:
        return [
            utc(self.at),
            london(self.at),
            self.what,
            self.visit,
            self.by,
            self.channel,
            self.status,
            self.text,
            self.detail,
        ]


@dataclass(frozen=True)
class Evidence:
    title: str
    # ("Tenant", "Amara Okafor"), ("Home", "12 Larch Close, Leeds LS6 2AB"), ...
    subject: list[tuple[str, str]]
    rows: list[Row]
    generated_at: datetime
    # For the file name: "evidence-visit-GAS-1001", "evidence-case-7".
    name: str


class NotFound(LookupError):
    """No visit with that reference, or no case with that id."""


# Building the record.


def for_visit(session: Session, visit: Visit, now: datetime) -> Evidence:
    """Everything about one visit, from its booking on."""
    tenant, home = session.get(Tenant, visit.tenant_id), session.get(Property, visit.property_id)
    rows = _rows(session, tenant, [visit], case=None)
    subject = [
        ("Visit", f"{visit.reference}: {_visit_type(visit.visit_type)}"),
        ("Slot", f"{london(visit.slot_start)} to {london(visit.slot_end)} (London), status {visit.status}"),
        *_people(tenant, home),
    ]
    title = f"Evidence record for visit {visit.reference}"
    return Evidence(title, subject, rows, now, f"evidence-visit-{_safe(visit.reference)}")


def for_case(session: Session, case: AccessCase, now: datetime) -> Evidence:
    """Everything about a no-access case: every visit of its type for the tenant, the attempts, and the case itself."""
    tenant, home = session.get(Tenant, case.tenant_id), session.get(Property, case.property_id)
    visits = list(
        session.scalars(
            select(Visit)
            .where(Visit.tenant_id == case.tenant_id, Visit.visit_type == case.visit_type)
            .order_by(Visit.slot_start)
        )
    )
    rows = _rows(session, tenant, visits, case=case)
    status = f"open since {london(case.opened_at)} (London)"
    if case.status == "closed":
        status = f"closed {london(case.closed_at)} (London), outcome: {_label(case.outcome)}"
    subject = [
        ("Case", f"No-access case {case.id}: {_visit_type(case.visit_type)}, {status}"),
        ("Visits", ", ".join(visit.reference for visit in visits) or "none"),
        *_people(tenant, home),
    ]
    return Evidence(f"Evidence record for no-access case {case.id}", subject, rows, now, f"evidence-case-{case.id}")


def visit_by_reference(session: Session, reference: str) -> Visit:
    visit = session.scalar(select(Visit).where(Visit.reference == reference))
    if visit is None:
        raise NotFound(f"no visit has the reference {reference}")
    return visit


def case_by_id(session: Session, case_id: int) -> AccessCase:
    case = session.get(AccessCase, case_id)
    if case is None:
        raise NotFound(f"no no-access case has the id {case_id}")
    return case


def _rows(session: Session, tenant: Tenant, visits: list[Visit], case: AccessCase | None) -> list[Row]:
    visit_ids = [visit.id for visit in visits]
    references = {visit.id: visit.reference for visit in visits}
    attempts = _attempts(session, visit_ids, case)
    events = list(session.scalars(select(VisitEvent).where(VisitEvent.visit_id.in_(visit_ids))))
    since = _since(visits, events, attempts, case)
    names = _officer_names(session)

    rows = [_event_row(event, references, names) for event in events]
    rows += [_attempt_row(attempt, references) for attempt in attempts]
    rows += [_message_row(m, references, names) for m in _messages(session, tenant.id, visit_ids, since)]
    rows += [_audit_row(entry, references, names) for entry in _audit(session, tenant.id, visit_ids, since, case)]
    rows += [_need_row(adjustment, names) for adjustment in _needs(session, tenant.id)]
    if case is not None:
        rows += _case_rows(case, names)
    return sorted(rows, key=lambda row: (row.at, ORDER[row.what], row.sequence))


def _attempts(session: Session, visit_ids: list[int], case: AccessCase | None) -> list[AccessAttempt]:
    condition = AccessAttempt.visit_id.in_(visit_ids)
    if case is not None:
        condition = or_(condition, AccessAttempt.case_id == case.id)
    return list(session.scalars(select(AccessAttempt).where(condition)))


def _since(visits, events, attempts, case) -> datetime:
    """The start of the record: the first moment anything about these visits (or the case) was stored."""
    moments = [visit.created_at for visit in visits] + [event.at for event in events] + [a.at for a in attempts]
    if case is not None:
        moments.append(case.opened_at)
    return min(moments)


def _messages(session: Session, tenant_id: int, visit_ids: list[int], since: datetime) -> list[Message]:
    """Every message about these visits, and every message to or from the tenant since the record starts."""
    conversations = select(Conversation.id).where(Conversation.tenant_id == tenant_id)
    return list(
        session.scalars(
            select(Message)
            .where(
                or_(
                    Message.visit_id.in_(visit_ids),
                    (Message.created_at >= since)
                    & or_(Message.tenant_id == tenant_id, Message.conversation_id.in_(conversations)),
                )
            )
            .order_by(Message.id)
        )
    )


def _audit(session: Session, tenant_id: int, visit_ids: list[int], since: datetime, case) -> list[AuditEntry]:
    about_tenant = (AuditEntry.tenant_id == tenant_id) & (AuditEntry.at >= since)
    entries = session.scalars(
        select(AuditEntry).where(or_(AuditEntry.visit_id.in_(visit_ids), about_tenant)).order_by(AuditEntry.id)
    )
    return list(entries)


def _needs(session: Session, tenant_id: int) -> list[Adjustment]:
    return list(session.scalars(select(Adjustment).where(Adjustment.tenant_id == tenant_id).order_by(Adjustment.id)))


# One row per kind of thing.


def _event_row(event: VisitEvent, references: dict, names: dict) -> Row:
    detail = []
    if event.status == "moved" and event.old_slot_start and event.new_slot_start:
        detail.append(f"from {london(event.old_slot_start)} to {london(event.new_slot_start)} (London)")
    if event.status == "letter_sent" and event.new_slot_start:
        detail.append(f"about the slot starting {london(event.new_slot_start)} (London)")
    if event.message_id:
        detail.append(f"in answer to message {event.message_id}")
    return Row(
        at=event.at,
        what="Visit event",
        visit=references.get(event.visit_id, ""),
        by=_actor(event.actor, names),
        text=EVENT_LABELS.get(event.status, _label(event.status)) + (f": {event.note}" if event.note else ""),
        detail="; ".join(detail),
        sequence=event.id,
    )


def _attempt_row(attempt: AccessAttempt, references: dict) -> Row:
    counted = f"Counted as attempt {attempt.number}" if attempt.counted else "Not counted towards a case"
    card = {True: "yes", False: "no", None: "not said"}[attempt.card_left]
    detail = [
        counted + (f" (case {attempt.case_id})" if attempt.case_id else ""),
        f"slot {london(attempt.slot_start)} to {london(attempt.slot_end)} (London)",
        f"card left: {card}",
        f"photo: {attempt.photo_ref or 'none'}",
        f"pre-booked: {'yes' if attempt.prebooked else 'no'}",
        f"notified in writing: {'yes' if attempt.notified_in_writing else 'no'}",
        f"follow-up: {attempt.stage} ({attempt.follow_up_status.replace('_', ' ')})"
        + (f": {attempt.follow_up_note}" if attempt.follow_up_note else ""),
    ]
    return Row(
        at=attempt.at,
        what="Access attempt",
        visit=references.get(attempt.visit_id, str(attempt.visit_id)),
        by=attempt.reported_by,
        text=attempt.note or "",
        # Then, in sentences, what made it pre-booked and notified (or not).
        detail="; ".join(detail) + ". " + attempt.notice,
        sequence=attempt.id,
    )


def _message_row(message: Message, references: dict, names: dict) -> Row:
    inbound = message.direction == "inbound"
    detail = [f"message {message.id}"]
    if message.twilio_sid:
        detail.append(f"Twilio {message.twilio_sid}")
    if message.error_code:
        detail.append(f"error {message.error_code}")
    if (message.raw or {}).get("routing"):
        detail.append(message.raw["routing"])
    if not inbound and message.updated_at and message.updated_at != message.created_at:
        detail.append(f"status as of {utc(message.updated_at)}")
    media = [item.get("type") or "attachment" for item in message.media or []]
    text = message.body + (f" [{', '.join(media)} received]" if media else "")
    return Row(
        at=message.created_at,
        what="Message from tenant" if inbound else "Message to tenant",
        visit=references.get(message.visit_id, ""),
        by="tenant" if inbound else _sender(message, names),
        channel=message.channel,
        status="received" if inbound else _delivery(message),
        text=text,
        detail="; ".join(detail),
        sequence=message.id,
    )


def _audit_row(entry: AuditEntry, references: dict, names: dict) -> Row:
    detail = [f"{key}: {value}" for key, value in (entry.detail or {}).items()]
    if entry.conversation_id:
        detail.insert(0, f"conversation {entry.conversation_id}")
    return Row(
        at=entry.at,
        what="Officer action",
        visit=references.get(entry.visit_id, ""),
        by=names.get(entry.officer_id, f"officer {entry.officer_id}"),
        text=_label(entry.action),
        detail="; ".join(detail),
        sequence=entry.id,
    )


def _need_row(adjustment: Adjustment, names: dict) -> Row:
    """A need on record: its kind and consent; the tenant's own words stay out of the export."""
    consent = f"consent: {adjustment.consent_how}" if adjustment.consent_at else "no consent recorded"
    if adjustment.consent_at:
        consent += f" at {utc(adjustment.consent_at)}"
    return Row(
        at=adjustment.recorded_at,
        what="Need recorded",
        by=_actor(adjustment.recorded_by, names),
        text=_label(adjustment.kind),
        detail=consent,
        sequence=adjustment.id,
    )


def _case_rows(case: AccessCase, names: dict) -> list[Row]:
    rows = [Row(at=case.opened_at, what="Case opened", by="no-access policy", text=f"No-access case {case.id}")]
    for action in case.actions:
        rows.append(
            Row(
                at=action.at,
                what="Case action",
                by=names.get(action.officer_id, f"officer {action.officer_id}"),
                text=action.note,
                detail=_label(action.kind),
                sequence=action.id,
            )
        )
    if case.status == "closed":
        rows.append(
            Row(
                at=case.closed_at,
                what="Case closed",
                by=names.get(case.closed_by, f"officer {case.closed_by}"),
                text=case.outcome_note or "",
                detail=f"outcome: {_label(case.outcome)}",
            )
        )
    return rows


# Output.


def to_csv(evidence: Evidence) -> str:
    return csv_text(COLUMNS, (row.cells() for row in evidence.rows))


def utc(moment: datetime | None) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def london(moment: datetime | None) -> str:
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else ""


# Small helpers.


def _people(tenant: Tenant, home: Property | None) -> list[tuple[str, str]]:
    lines = [("Tenant", f"{tenant.name}, {tenant.phone}" + (f" (ref {tenant.reference})" if tenant.reference else ""))]
    if home is not None:
        address = ", ".join(part for part in (home.address_line1, home.address_line2, home.town) if part)
        lines.append(("Home", f"{address} {home.postcode}"))
    return lines


def _officer_names(session: Session) -> dict[int, str]:
    return {
        row.id: f"{row.name} ({row.role})" for row in session.execute(select(Officer.id, Officer.name, Officer.role))
    }


def _actor(actor: str, names: dict) -> str:
    prefix = "officer:"
    if actor and actor.startswith(prefix) and actor[len(prefix) :].isdigit():
        officer_id = int(actor[len(prefix) :])
        return names.get(officer_id, f"officer {officer_id}")
    return ACTORS.get(actor, actor)


def _sender(message: Message, names: dict) -> str:
    key = message.template_key or ""
    if key.startswith("officer:") and key[len("officer:") :].isdigit():
        return names.get(int(key[len("officer:") :]), key)
    if key.startswith("reminder."):
        return f"assistant ({key.removeprefix('reminder.').replace('_', ' ')} reminder)"
    if key.startswith("no_access."):
        return f"assistant (no-access follow-up, {key.removeprefix('no_access.')})"
    return f"assistant ({key.replace('_', ' ')})" if key else "assistant"


def _delivery(message: Message) -> str:
    if message.state == "suppressed":
        return "not sent: opted out"
    return message.status


def _visit_type(code: str) -> str:
    return i18n.render(f"visit_type.{code}", "en") if f"visit_type.{code}" in i18n.TEXTS else _label(code)


def _label(code: str | None) -> str:
    return (code or "").replace("_", " ").capitalize()


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)
