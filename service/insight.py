"""Numbers about access for the specialist team: how tenants answer, why visits fail, what is at risk.

Every table is counted in the database (GROUP BY, one row per group), never by
loading visits one by one. A table is a title, its columns and its rows, so
the same thing is drawn as a chart, shown as a table and downloaded as CSV.
Tables that name tenants (certificates at risk, contact data) leave out the
tenants only safeguarding officers may see, as everywhere in the console.
"""

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.orm import Session

from service import operatives
from service.console.access import visible_tenants
from service.phones import InvalidPhoneNumber, textable_number
from service.reasons import LABELS as REASON_LABELS
from service.spreadsheets import csv_text
from store.models import (
    AccessAttempt,
    AccessCase,
    Property,
    Reminder,
    Tenant,
    Visit,
    VisitEvent,
    VisitFeedback,
    VisitReason,
)

GAS_CHECK = "gas_safety_check"
# A gas safety check lasts 12 months (Gas Safety (Installation and Use) Regulations 1998).
CERTIFICATE_MONTHS = 12
EXPIRY_WINDOWS = (30, 60)
RATES = ("confirmed", "moved", "cancelled", "no_access")
# Time from booking to the tenant's yes, in the buckets a team talks about.
CONFIRM_BUCKETS = (
    ("within 1 hour", timedelta(hours=1)),
    ("within 1 day", timedelta(days=1)),
    ("within 3 days", timedelta(days=3)),
    ("within 7 days", timedelta(days=7)),
    ("longer", None),
)


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    # The columns drawn as bars (by name), against the first column; none: a table only.
    chart: list[str] = field(default_factory=list)
    # Percentages are drawn on a 0-100 scale.
    percent: bool = False


# Confirm, move, cancel and no-access rates.


def _visit_flags():
    """One row per visit: its dimensions and whether it was ever confirmed, moved, cancelled or not accessed."""
    confirmed = exists().where(VisitEvent.visit_id == Visit.id, VisitEvent.status == "confirmed")
    moved = exists().where(VisitEvent.visit_id == Visit.id, VisitEvent.status == "moved")
    no_access = exists().where(AccessAttempt.visit_id == Visit.id)
    return (
        select(
            Visit.id.label("visit_id"),
            Visit.visit_type.label("visit_type"),
            Tenant.language.label("language"),
            Tenant.preferred_channel.label("channel"),
            case((confirmed | (Visit.status == "confirmed"), 1), else_=0).label("confirmed"),
            case((moved, 1), else_=0).label("moved"),
            case((Visit.status == "cancelled", 1), else_=0).label("cancelled"),
            case((no_access, 1), else_=0).label("no_access"),
        )
        .join(Tenant, Tenant.id == Visit.tenant_id)
        .subquery()
    )


def rates_by(session: Session, dimension: str) -> Table:
    """Of the visits in each group, the share ever confirmed, moved, cancelled or not accessed (in %)."""
    flags = _visit_flags()
    if dimension == "reminder_step":
        # A visit counts under every reminder step it was actually sent.
        group = Reminder.kind
        query = select(group, func.count(), *[func.sum(flags.c[name]) for name in RATES]).join(
            Reminder, and_(Reminder.visit_id == flags.c.visit_id, Reminder.status == "sent")
        )
    else:
        group = flags.c[dimension]
        query = select(group, func.count(), *[func.sum(flags.c[name]) for name in RATES])
    rows = session.execute(query.select_from(flags).group_by(group).order_by(group)).all()

    title = dimension.replace("_", " ")
    table = Table(
        key=f"rates_by_{dimension}",
        title=f"Confirm, move, cancel and no-access rates by {title}",
        columns=[title, "visits", *[f"{name.replace('_', ' ')} %" for name in RATES]],
        chart=[f"{name.replace('_', ' ')} %" for name in RATES],
        percent=True,
    )
    for value, visits, *counts in rows:
        table.rows.append([value or "(none)", visits, *[_percent(count or 0, visits) for count in counts]])
    return table


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


# Attempts and time to confirm.


def attempts_per_completed_visit(session: Session) -> Table:
    """How many failed attempts each completed visit took, as a spread and an average."""
    attempts = (
        select(Visit.id, func.count(AccessAttempt.id).label("attempts"))
        .outerjoin(AccessAttempt, AccessAttempt.visit_id == Visit.id)
        .where(Visit.status == "completed")
        .group_by(Visit.id)
        .subquery()
    )
    # Counted per number of attempts in SQL; the few groups are then folded into "3 or more" here.
    spread: dict[str, int] = {}
    for failed_attempts, visits in session.execute(
        select(attempts.c.attempts, func.count()).group_by(attempts.c.attempts).order_by(attempts.c.attempts)
    ):
        label = "3 or more" if failed_attempts >= 3 else str(failed_attempts)
        spread[label] = spread.get(label, 0) + visits
    completed, failed = sum(spread.values()), session.scalar(select(func.sum(attempts.c.attempts))) or 0

    table = Table(
        key="attempts_per_completed_visit",
        title="Failed attempts before each completed visit",
        columns=["failed attempts", "completed visits"],
        chart=["completed visits"],
    )
    table.rows = [[label, count] for label, count in spread.items()]
    table.rows.append(["average", round(failed / completed, 2) if completed else 0.0])
    return table


def time_to_confirm(session: Session) -> Table:
    """From booking to the tenant's first yes, in buckets (the first yes per visit is found in SQL)."""
    first_yes = (
        select(Visit.created_at, func.min(VisitEvent.at))
        .join(VisitEvent, VisitEvent.visit_id == Visit.id)
        .where(VisitEvent.status == "confirmed")
        .group_by(Visit.id, Visit.created_at)
    )
    counts = dict.fromkeys((label for label, _ in CONFIRM_BUCKETS), 0)
    for booked, confirmed in session.execute(first_yes):
        counts[_bucket(confirmed - booked)] += 1
    return Table(
        key="time_to_confirm",
        title="Time from booking to the tenant's confirmation",
        columns=["time to confirm", "visits"],
        rows=[[label, count] for label, count in counts.items()],
        chart=["visits"],
    )


def _bucket(waited: timedelta) -> str:
    for label, limit in CONFIRM_BUCKETS:
        if limit is None or waited <= limit:
            return label
    return CONFIRM_BUCKETS[-1][0]


# Why visits fail, and whose fault it was.


def reasons(session: Session) -> Table:
    """The reasons tenants gave of their own accord: for a visit that did not suit, and for one they missed."""
    missed = case((VisitReason.visit_status == "no_access", 1), else_=0)
    rows = session.execute(
        select(VisitReason.category, func.count(), func.sum(missed))
        .group_by(VisitReason.category)
        .order_by(func.count().desc(), VisitReason.category)
    ).all()
    return Table(
        key="reasons",
        title="Reasons tenants gave (their own words stay on their record)",
        columns=["reason", "all", "for a missed visit"],
        rows=[[REASON_LABELS.get(category, category), total, missed or 0] for category, total, missed in rows],
        chart=["all", "for a missed visit"],
    )


def provider_misses(session: Session) -> Table:
    """Slots we missed (nobody came, or came well outside the slot), by visit type: never the tenant's failure."""
    rows = session.execute(
        select(Visit.visit_type, func.count(VisitEvent.id))
        .join(VisitEvent, VisitEvent.visit_id == Visit.id)
        .where(VisitEvent.status == operatives.MISSED)
        .group_by(Visit.visit_type)
        .order_by(Visit.visit_type)
    ).all()
    return Table(
        key="provider_misses",
        title="Visits we missed (provider side)",
        columns=["visit type", "missed slots"],
        rows=[[visit_type, count] for visit_type, count in rows],
        chart=["missed slots"],
    )


# Gas safety certificates at risk.


def expiring_certificates(session: Session, role: str, now: datetime) -> Table:
    """Homes whose gas safety certificate (last completed check + 12 months) runs out within 60 days, or has."""
    latest = func.max(Visit.slot_end)
    # A certificate expiring by the horizon means a check done on or before the horizon less 12 months.
    done_by = _months_before(now + timedelta(days=max(EXPIRY_WINDOWS)), CERTIFICATE_MONTHS)
    open_case = (
        select(AccessCase.id)
        .where(
            AccessCase.tenant_id == Property.tenant_id,
            AccessCase.visit_type == GAS_CHECK,
            AccessCase.status == "open",
        )
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Property.reference, Property.address_line1, Property.postcode, Tenant.name, latest, open_case)
        .join(Visit, Visit.property_id == Property.id)
        .outerjoin(Tenant, Tenant.id == Property.tenant_id)
        .where(Visit.visit_type == GAS_CHECK, Visit.status == "completed", visible_tenants(role, Property.tenant_id))
        .group_by(
            Property.id, Property.tenant_id, Property.reference, Property.address_line1, Property.postcode, Tenant.name
        )
        .having(latest <= done_by)
        .order_by(latest)
    ).all()

    table = Table(
        key="expiring_certificates",
        title="Gas safety certificates expiring within 30 and 60 days",
        columns=["home", "address", "tenant", "last check", "expires", "within", "open no-access case"],
    )
    for reference, line1, postcode, tenant, last_check, case_id in rows:
        expires = _months_after(last_check, CERTIFICATE_MONTHS)
        table.rows.append(
            [
                reference or "",
                f"{line1}, {postcode}",
                tenant or "",
                last_check.date().isoformat(),
                expires.date().isoformat(),
                _window(expires, now),
                f"case {case_id}" if case_id else "",
            ]
        )
    return table


def _window(expires: datetime, now: datetime) -> str:
    if expires < now:
        return "expired"
    return next(f"{days} days" for days in EXPIRY_WINDOWS if expires <= now + timedelta(days=days))


def _months_after(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.month - 1 + months, 12)
    return _same_day(moment, moment.year + year, month + 1)


def _months_before(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.month - 1 - months, 12)
    return _same_day(moment, moment.year + year, month + 1)


def _same_day(moment: datetime, year: int, month: int) -> datetime:
    # 29 February a year on is 28 February: a certificate never gains a day.
    last_day = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


# Contact data and satisfaction.


def contact_quality(session: Session, role: str) -> Table:
    """Tenants whose number is missing, cannot get texts, or is another tenant's written differently."""
    rows = session.execute(
        select(Tenant.reference, Tenant.name, Tenant.phone).where(visible_tenants(role, Tenant.id)).order_by(Tenant.id)
    ).all()
    table = Table(key="contact_quality", title="Contact data to put right", columns=["tenant", "name", "problem"])
    seen: dict[str, list] = {}
    for reference, name, phone in rows:
        problem = _phone_problem(phone)
        if problem:
            table.rows.append([reference or "", name, problem])
            continue
        seen.setdefault(textable_number(phone), []).append([reference or "", name])
    for tenants in seen.values():
        if len(tenants) > 1:
            table.rows.extend([*tenant, "same number as another tenant"] for tenant in tenants)
    return table


def contact_summary(session: Session, role: str) -> Table:
    """How many tenants have each contact problem, with unchecked numbers and opt-outs."""
    problems = contact_quality(session, role)
    counts: dict[str, int] = {}
    for _, _, problem in problems.rows:
        counts[problem] = counts.get(problem, 0) + 1
    visible = visible_tenants(role, Tenant.id)
    unchecked, opted_out = session.execute(
        select(
            func.sum(case((Tenant.phone_verified_at.is_(None), 1), else_=0)),
            func.sum(case((Tenant.sms_opted_out | Tenant.whatsapp_opted_out, 1), else_=0)),
        ).where(visible)
    ).one()
    counts["number not checked yet"] = unchecked or 0
    counts["opted out of texts"] = opted_out or 0
    return Table(
        key="contact_summary",
        title="Contact data quality",
        columns=["problem", "tenants"],
        rows=[[problem, count] for problem, count in counts.items()],
        chart=["tenants"],
    )


def _phone_problem(phone: str | None) -> str | None:
    if not (phone or "").strip():
        return "missing number"
    try:
        textable_number(phone)
    except InvalidPhoneNumber:
        return "invalid number (cannot get texts)"
    return None


def satisfaction(session: Session) -> Table:
    """How tenants rated completed visits: each score, words without a score, and questions unanswered."""
    rows = dict(
        session.execute(
            select(VisitFeedback.score, func.count())
            .where(VisitFeedback.answered_at.is_not(None))
            .group_by(VisitFeedback.score)
        ).all()
    )
    asked, average = session.execute(
        select(func.count(VisitFeedback.id), func.avg(VisitFeedback.score)).select_from(VisitFeedback)
    ).one()
    answered = sum(rows.values())
    table = Table(
        key="satisfaction",
        title="How did the visit go? (1 poor, 5 very good)",
        columns=["answer", "tenants"],
        rows=[[str(score), rows.get(score, 0)] for score in range(1, 6)],
        chart=["tenants"],
    )
    table.rows += [
        ["words only", rows.get(None, 0)],
        ["not answered", (asked or 0) - answered],
        ["average score", round(float(average), 2) if average is not None else ""],
    ]
    return table


def all_tables(session: Session, role: str, now: datetime) -> list[Table]:
    return [
        rates_by(session, "visit_type"),
        rates_by(session, "language"),
        rates_by(session, "channel"),
        rates_by(session, "reminder_step"),
        attempts_per_completed_visit(session),
        time_to_confirm(session),
        reasons(session),
        provider_misses(session),
        expiring_certificates(session, role, now),
        contact_summary(session, role),
        contact_quality(session, role),
        satisfaction(session),
    ]


def to_csv(table: Table) -> str:
    return csv_text(table.columns, table.rows)
