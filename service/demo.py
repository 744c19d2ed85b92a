"""Invented demo data: Ofcom's drama numbers, made-up names and addresses."""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from service.visits import plan_reminders
from store.db import transaction
from store.models import Base, Operative, Property, Tenant, Visit, VisitEvent

LONDON = ZoneInfo("Europe/London")
WEEKDAY_HOURS = {day: ["08:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}

TENANTS = [
    ("Amara Okafor", "07700 900101", "en", False, "12 Larch Close", "LS6 2AB", "gas_safety_check", 3, "10:00"),
    ("Dylan Price", "07700 900102", "en", True, "4 Heron Court", "LS7 3CD", "electrical_check", 5, "09:00"),
    ("Zofia Nowak", "07700 900103", "pl", False, "88 Mill Lane", "LS8 4EF", "damp_survey", 4, "13:00"),
    ("Gethin Morgan", "07700 900104", "cy", False, "2 Quarry Row", "LS9 5GH", "repair", 6, "08:00"),
    ("Samira Haddad", "07700 900105", "ar", True, "17 Elm Terrace", "LS10 6JK", "tenancy_audit", 8, "14:00"),
    ("Ruth Ellis", "07700 900106", "en", False, "9 Birch Walk", "LS11 7LM", "alarm_check", 2, "11:00"),
    # Today, about two hours from when the demo is loaded: for trying "on my way" and the tracking page.
    ("Kofi Mensah", "07700 900107", "en", False, "31 Rowan Drive", "LS12 8NP", "repair", 0, None),
]
# Ruth's number has not been checked yet: the assistant asks for her address before saying anything.
UNCHECKED_PHONES = {"07700 900106"}
KEPT_ON_RESET = {"officers", "api_keys"}
OPERATIVES = [
    ("Priya Shah", ["gas", "repairs"]),
    ("Tom Walsh", ["electrical", "repairs"]),
    ("Helen Carter", ["surveys", "housing", "gas"]),
]


def seed(runtime, reset: bool = False) -> dict:
    now = datetime.now(timezone.utc)
    with transaction(runtime.sessions) as session:
        if reset:
            # Everything about tenants and visits goes, dependants first; officers and API keys stay,
            # so a console signed in and a scheduler's key keep working.
            for table in reversed(Base.metadata.sorted_tables):
                if table.name not in KEPT_ON_RESET:
                    session.execute(delete(table))
        if session.scalar(select(Tenant.id).limit(1)) is not None:
            return {}

        operatives = [Operative(name=name, skills=skills, working_hours=WEEKDAY_HOURS) for name, skills in OPERATIVES]
        session.add_all(operatives)
        session.flush()

        visits = 0
        for index, (name, phone, language, whatsapp, street, postcode, visit_type, days, at) in enumerate(TENANTS, 1):
            tenant = Tenant(
                reference=f"T-{index:04d}",
                name=name,
                phone="+44" + phone.replace(" ", "")[1:],
                whatsapp=whatsapp,
                language=language,
                preferred_channel="whatsapp" if whatsapp else "sms",
                phone_verified_at=None if phone in UNCHECKED_PHONES else now,
            )
            home = Property(
                reference=f"P-{index:04d}", address_line1=street, town="Leeds", postcode=postcode, tenant=tenant
            )
            session.add_all([tenant, home])
            session.flush()
            visit = _visit(runtime, tenant, home, operatives, index, visit_type, now, days, at)
            session.add(visit)
            session.flush()
            session.add(VisitEvent(visit_id=visit.id, status="booked", actor="system", note="demo data"))
            plan_reminders(session, visit, runtime.settings, now)
            visits += 1
    return {"tenants": len(TENANTS), "operatives": len(OPERATIVES), "visits": visits}


def _visit(runtime, tenant, home, operatives, index, visit_type, now, days, at) -> Visit:
    skill = runtime.settings.visit_types[visit_type]["skill"]
    operative = next(o for o in operatives if skill in o.skills)
    if at is None:
        start = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    else:
        day = _weekday_after(now.astimezone(LONDON).date() + timedelta(days=days))
        start = datetime.combine(day, time.fromisoformat(at), LONDON).astimezone(timezone.utc)
    minutes = runtime.settings.visit_types[visit_type]["minutes"]
    return Visit(
        reference=f"A-{index:04d}",
        visit_type=visit_type,
        tenant_id=tenant.id,
        property_id=home.id,
        operative_id=operative.id,
        slot_start=start,
        slot_end=start + timedelta(minutes=minutes),
        status="booked",
    )


def _weekday_after(day):
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def describe(runtime) -> list[str]:
    """One line per demo tenant: who to be in `chat`, in which language, for which visit."""
    lines = []
    with transaction(runtime.sessions) as session:
        for tenant in session.scalars(select(Tenant).order_by(Tenant.id)):
            visit = session.scalar(select(Visit).where(Visit.tenant_id == tenant.id).order_by(Visit.slot_start))
            when = visit.slot_start.astimezone(LONDON).strftime("%a %d %b %H:%M") if visit else "no visit"
            national = "0" + tenant.phone[3:] if tenant.phone.startswith("+44") else tenant.phone
            line = (
                f"{national}  {tenant.name:<15} {tenant.language:<3} {tenant.preferred_channel:<9} "
                f"{visit.visit_type if visit else '':<17} {visit.reference if visit else '':<7} {when}"
            )
            if tenant.phone_verified_at is None and visit:
                # The answer to the assistant's check, so the demo can be finished.
                line += f"  (number not checked yet: answer {visit.home.address_line1}, {visit.home.postcode})"
            lines.append(line)
    return lines
