"""Exactly once, whatever runs at the same time: four `reminders` processes on one database.

Each process is the real command a cron job would run, started at the same
moment. Every reminder is claimed by one conditional UPDATE, so each tenant
gets one message however the four interleave: on SQLite (one writer at a
time) and on PostgreSQL (row-level concurrency) when TEST_DATABASE_URL is set.
"""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from service.settings import load_settings
from service.visits import plan_reminders
from store.db import make_engine, make_session_factory, transaction, upgrade_database
from store.models import Base, Message, Operative, Property, Reminder, Tenant, Visit
from tests.factories import WEEKDAYS, london, sent_to

ROOT = Path(__file__).resolve().parent.parent
TENANTS = 40
PROCESSES = 4
VISIT_AT = london(2024, 5, 20, 10, 0)
BOOKED_AT = london(2024, 5, 1, 9, 0)
RUN_AT = "2024-05-18 12:00"  # the two-days-before reminders of every visit are due


def databases():
    urls = ["sqlite"]
    if os.environ.get("TEST_DATABASE_URL"):
        urls.append("postgresql")
    return urls


@pytest.mark.parametrize("database", databases())
def test_four_reminder_processes_at_once_send_each_reminder_exactly_once(database, tmp_path, simulator, fresh_database):
    url = f"sqlite:///{tmp_path / 'shared.db'}" if database == "sqlite" else os.environ["TEST_DATABASE_URL"]
    sessions = fresh_database(url)
    with simulator.state.lock:
        simulator.state.messages.clear()
    phones = _book_visits(sessions, url)
    load_settings(var_dir=tmp_path / "var")  # its secrets file is made once, not raced by four processes

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TWILIO_SIMULATOR_URL": simulator.url,
        "VAR_DIR": str(tmp_path / "var"),
        "APP_URL": "http://127.0.0.1:9",  # delivery reports go nowhere: this test counts sends
    }
    env.pop("TWILIO_ACCOUNT_SID", None)
    command = [str(Path(sys.executable).parent / "flask"), "--app", "app", "reminders", "--at", RUN_AT]
    runs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(PROCESSES)
    ]
    outputs = [run.communicate(timeout=180)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs

    received = {phone: len(sent_to(simulator, phone)) for phone in phones}
    assert received == {phone: 1 for phone in phones}, "every tenant gets exactly one message"
    sent_counts = [int(output.split("reminders sent: ")[1].split(",")[0]) for output in outputs]
    assert sum(sent_counts) == TENANTS, outputs
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Message)) == TENANTS
        statuses = session.execute(select(Reminder.kind, Reminder.status)).all()
    assert {status for kind, status in statuses if kind == "two_days"} == {"sent"}
    # The ones missed earlier are superseded by the latest, never sent as well.
    assert {status for kind, status in statuses if kind in ("on_booking", "seven_days")} == {"skipped"}


@pytest.fixture
def fresh_database():
    """Empty tables on the given database; its connections closed after the test."""
    engines = []

    def make(url: str):
        upgrade_database(url)
        engine = make_engine(url)
        engines.append(engine)
        sessions = make_session_factory(engine)
        with transaction(sessions) as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(delete(table))
        return sessions

    yield make
    for engine in engines:
        engine.dispose()


def _book_visits(sessions, url: str) -> list[str]:
    settings = load_settings(database_url=url)
    phones = [f"+447700900{400 + index:03d}" for index in range(TENANTS)]
    with transaction(sessions) as session:
        operative = Operative(name="Priya Shah", skills=["gas"], working_hours=WEEKDAYS)
        session.add(operative)
        session.flush()
        for index, phone in enumerate(phones):
            tenant = Tenant(name=f"Tenant {index}", phone=phone, phone_verified_at=BOOKED_AT)
            home = Property(address_line1=f"{index} Larch Close", town="Leeds", postcode="LS6 2AB", tenant=tenant)
            session.add_all([tenant, home])
            session.flush()
            visit = Visit(
                reference=f"C-{index:04d}",
                visit_type="gas_safety_check",
                tenant_id=tenant.id,
                property_id=home.id,
                operative_id=operative.id,
                slot_start=VISIT_AT + timedelta(minutes=index),
                slot_end=VISIT_AT + timedelta(minutes=index + 60),
            )
            session.add(visit)
            session.flush()
            plan_reminders(session, visit, settings, BOOKED_AT)
    return phones


def test_a_reminders_run_killed_mid_batch_loses_nothing_and_repeats_nothing_when_run_again(
    tmp_path, simulator, fresh_database
):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    sessions = fresh_database(url)
    phones = _book_visits(sessions, url)
    load_settings(var_dir=tmp_path / "var")
    with simulator.state.lock:
        simulator.state.messages.clear()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TWILIO_SIMULATOR_URL": simulator.url,
        "VAR_DIR": str(tmp_path / "var"),
        "APP_URL": "http://127.0.0.1:9",
    }
    command = [str(Path(sys.executable).parent / "flask"), "--app", "app", "reminders", "--at", RUN_AT]

    # Twilio answers slowly, and the first run dies (SIGKILL, no clean-up) part way through.
    simulator.state.faults.delay_seconds = 0.3
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len([m for m in simulator.state.messages if m["to"] in phones]) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill()
    first.wait()
    simulator.state.faults.delay_seconds = 0
    sent_before_restart = {phone for phone in phones if sent_to(simulator, phone)}
    assert 5 <= len(sent_before_restart) < TENANTS, "the run was killed part way through"

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stdout + second.stderr

    received = {phone: len(sent_to(simulator, phone)) for phone in phones}
    assert max(received.values()) == 1, "nobody gets a reminder twice"
    with transaction(sessions) as session:
        in_flight = session.scalars(select(Message.to_address).where(Message.state == "sending")).all()
    # At most the sends on the wire when the process died (one per send worker) are left for a person.
    missing = {phone for phone, count in received.items() if count == 0}
    workers = load_settings(database_url=url).section("reminders")["send_workers"]
    assert len(in_flight) <= workers and missing <= set(in_flight), (missing, in_flight)


def test_a_send_cut_off_by_a_crash_is_flagged_for_a_person_never_resent(runtime, simulator):
    from service import messaging
    from store.models import OfficerTask
    from tests.factories import create_tenant

    create_tenant(runtime)
    with transaction(runtime.sessions) as session:
        conversation = messaging.conversation_for(session, "+447700900123", "sms")
        stuck = messaging.outbound(conversation, "Hello Amara, your gas safety check is on Mon 20 May.")
        stuck.state = "sending"
        recent = messaging.outbound(conversation, "A send still in progress in another process.")
        recent.state = "sending"
        session.add_all([stuck, recent])
        session.flush()
        stuck.updated_at = runtime.clock() - timedelta(minutes=30)

    assert messaging.flag_interrupted_sends(runtime) == 1
    with transaction(runtime.sessions) as session:
        assert session.get(Message, stuck.id).state == "unconfirmed"
        assert session.get(Message, recent.id).state == "sending"
        assert session.scalar(select(OfficerTask.kind)) == "send_unconfirmed"
    assert sent_to(simulator, "+447700900123") == []
