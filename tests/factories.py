"""Plain functions that make test data and talk to the app the way Twilio does."""

import secrets
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from service.visits import plan_reminders
from store.db import transaction
from store.models import Message, Operative, Property, Tenant, Visit, VisitEvent

LONDON = ZoneInfo("Europe/London")
SENDER = "+441632960001"
WEEKDAYS = {day: ["08:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def london(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def create_operative(runtime, name="Priya Shah", skills=("gas", "repairs", "electrical", "surveys", "housing")):
    with transaction(runtime.sessions) as session:
        operative = Operative(name=name, skills=list(skills), working_hours=WEEKDAYS)
        session.add(operative)
    return operative


def create_tenant(
    runtime, phone="+447700900123", name="Amara Okafor", language="en", whatsapp=False, verified=True, needs_asked=True
):
    """A tenant as most tests want one: number already checked, and already asked about their needs."""
    checked = datetime(2024, 1, 2, tzinfo=timezone.utc)
    with transaction(runtime.sessions) as session:
        tenant = Tenant(
            name=name,
            phone=phone,
            language=language,
            whatsapp=whatsapp,
            preferred_channel="whatsapp" if whatsapp else "sms",
            phone_verified_at=checked if verified else None,
            needs_asked_at=checked if needs_asked else None,
        )
        home = Property(address_line1="12 Larch Close", town="Leeds", postcode="LS6 2AB", tenant=tenant)
        session.add_all([tenant, home])
    return tenant


def create_visit(
    runtime,
    tenant,
    start: datetime,
    visit_type="gas_safety_check",
    reference=None,
    operative=None,
    minutes=None,
    status="booked",
    plan=True,
    now=None,
):
    minutes = minutes or runtime.settings.visit_types[visit_type]["minutes"]
    with transaction(runtime.sessions) as session:
        home = session.scalar(select(Property).where(Property.tenant_id == tenant.id))
        operative = operative or session.scalar(select(Operative).order_by(Operative.id))
        count = session.query(Visit).count()
        visit = Visit(
            reference=reference or f"A-{count + 1:04d}",
            visit_type=visit_type,
            tenant_id=tenant.id,
            property_id=home.id,
            operative_id=operative.id if operative else None,
            slot_start=start.astimezone(timezone.utc),
            slot_end=(start + timedelta(minutes=minutes)).astimezone(timezone.utc),
            status=status,
        )
        session.add(visit)
        session.flush()
        session.add(VisitEvent(visit_id=visit.id, status="booked", actor="system"))
        if plan:
            plan_reminders(session, visit, runtime.settings, now or datetime.now(timezone.utc))
    return visit


def evening_before(visit: Visit) -> datetime:
    """7pm London the day before the visit: a reminder is due then whatever day the tests run on."""
    day = visit.slot_start.astimezone(LONDON).date() - timedelta(days=1)
    return datetime(day.year, day.month, day.day, 19, tzinfo=LONDON)


def get_visit(runtime, visit_id) -> Visit:
    with transaction(runtime.sessions) as session:
        visit = session.get(Visit, visit_id)
        list(visit.history)  # load it before the session closes
        return visit


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


def sign(runtime, url: str, form: dict) -> str:
    return RequestValidator(runtime.settings.twilio_auth_token).compute_signature(url, form)


def post_signed(app, path: str, form: dict, headers: dict | None = None, sign_url: str | None = None):
    runtime = app.extensions["assistant"]
    url = app.config["LIVE_URL"] + path
    signature = sign(runtime, sign_url or url, form)
    return requests.post(url, data=form, headers={"X-Twilio-Signature": signature, **(headers or {})}, timeout=10)


def tenant_says(app, body, phone="+447700900123", channel="sms", sid=None, wait=True, **extra) -> list[str]:
    """Send one signed inbound message and return the assistant's replies to it."""
    sid = sid or new_sid()
    sender = f"whatsapp:{phone}" if channel == "whatsapp" else phone
    to = f"whatsapp:{SENDER}" if channel == "whatsapp" else SENDER
    form = {"From": sender, "To": to, "MessageSid": sid, "NumMedia": "0", **extra}
    if body is not None:
        form["Body"] = body
    answer = post_signed(app, "/twilio/inbound", form)
    assert answer.status_code == 200, answer.text
    if not wait:
        return []
    return replies_to(app, sid)


def replies_to(app, sid: str, timeout: float = 30) -> list[str]:
    runtime = app.extensions["assistant"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with transaction(runtime.sessions) as session:
            inbound = session.scalar(select(Message).where(Message.twilio_sid == sid))
            if inbound is not None and inbound.state not in ("received",):
                replies = session.scalars(select(Message).where(Message.reply_to_id == inbound.id)).all()
                if all(reply.state not in ("pending", "sending") for reply in replies):
                    return [reply.body for reply in replies]
        time.sleep(0.05)
    raise AssertionError(f"no answer to {sid} within {timeout}s")


def sent_to(simulator, address: str) -> list[dict]:
    with simulator.state.lock:
        return [dict(m) for m in simulator.state.messages if m["to"] == address]


def wait_for(found, timeout=10.0):
    """Poll `found` until it returns something true (background work landing), or time is up."""
    deadline = time.monotonic() + timeout
    while not (result := found()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def booking_notice_sent(runtime, now):
    """The booking notice goes out as at the next reminders run, so the tenant's "yes" answers it."""
    from service.reminders import send_due_reminders

    send_due_reminders(runtime, now)
