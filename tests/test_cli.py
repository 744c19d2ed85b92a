"""The command line: demo data and due reminders."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from service.reminders import send_due_reminders
from store.db import transaction
from store.models import Message, Reminder, Tenant, Visit
from tests.factories import SENDER, create_operative, create_tenant, create_visit, london, new_sid, sent_to


def visit_with_reminders_due(runtime):
    """A tenant whose visit is tomorrow, with its reminders due five minutes ago."""
    create_operative(runtime)
    tenant = create_tenant(runtime)
    now = datetime.now(timezone.utc)
    create_visit(runtime, tenant, now + timedelta(days=1, hours=2), now=now - timedelta(days=8))
    with transaction(runtime.sessions) as session:
        session.execute(Reminder.__table__.update().values(due_at=now - timedelta(minutes=5)))
    return tenant


def test_seed_demo_loads_invented_tenants_with_drama_numbers(runtime, live_app):
    result = live_app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "7 tenants" in result.output
    with transaction(runtime.sessions) as session:
        phones = session.scalars(select(Tenant.phone)).all()
        assert all(phone.startswith("+447700900") for phone in phones)
        assert session.scalar(select(func.count()).select_from(Visit)) == 7
        assert session.scalar(select(func.count()).select_from(Reminder)) > 0

    again = live_app.test_cli_runner().invoke(args=["seed-demo"])
    assert "already loaded" in again.output
    assert "07700900101  Amara Okafor" in again.output


def test_reminders_command_sends_what_is_due_once(runtime, live_app, simulator):
    visit_with_reminders_due(runtime)

    first = live_app.test_cli_runner().invoke(args=["reminders"])
    second = live_app.test_cli_runner().invoke(args=["reminders"])
    assert "reminders sent: 1" in first.output, first.output
    assert "reminders sent: 0" in second.output
    assert len(sent_to(simulator, "+447700900123")) == 1


def test_missed_reminders_send_only_the_latest_and_skip_visits_already_started(runtime):
    create_operative(runtime)
    ahead = create_tenant(runtime)
    gone = create_tenant(runtime, phone="+447700900456", name="Dylan Price")
    now = london(2024, 5, 13, 12)
    create_visit(runtime, ahead, london(2024, 5, 15, 10), now=london(2024, 5, 1))
    create_visit(runtime, gone, london(2024, 5, 13, 9), now=london(2024, 5, 1))

    counts = send_due_reminders(runtime, now)
    assert counts["sent"] == 1
    with transaction(runtime.sessions) as session:
        statuses = session.execute(select(Reminder.kind, Reminder.status, Visit.tenant_id).join(Visit)).all()
    sent = [row for row in statuses if row.status == "sent"]
    assert len(sent) == 1 and sent[0].kind == "two_days"
    assert {row.status for row in statuses if row.tenant_id == gone.id} == {"skipped"}


def test_reminders_are_not_sent_to_a_number_that_opted_out(runtime, simulator):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 15, 10), now=london(2024, 5, 1))
    with transaction(runtime.sessions) as session:
        session.get(Tenant, tenant.id).sms_opted_out = True
    assert send_due_reminders(runtime, london(2024, 5, 13, 12))["sent"] == 0
    assert sent_to(simulator, "+447700900123") == []


def test_evening_before_reminder_keeps_its_wall_clock_time_across_the_clock_change(runtime):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 3, 31, 10), now=london(2024, 3, 1))  # Sunday, clocks go forward
    with transaction(runtime.sessions) as session:
        due = {r.kind: r.due_at for r in session.scalars(select(Reminder).where(Reminder.visit_id == visit.id))}
    assert due["evening_before"] == london(2024, 3, 30, 18)
    assert due["seven_days"] == london(2024, 3, 24, 10)
    assert due["seven_days"].astimezone(timezone.utc).hour == 10  # GMT a week before
    assert due["two_days"].astimezone(timezone.utc).hour == 10


def test_reminders_keep_their_wall_clock_times_when_the_clocks_go_back_in_october(runtime):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    # Clocks go back at 01:00 UTC on Sunday 27 October 2024; the visit is on the Monday after.
    visit = create_visit(runtime, tenant, london(2024, 10, 28, 10), now=london(2024, 10, 1))
    with transaction(runtime.sessions) as session:
        due = {r.kind: r.due_at for r in session.scalars(select(Reminder).where(Reminder.visit_id == visit.id))}
    assert due["evening_before"] == london(2024, 10, 27, 18)
    assert due["evening_before"].astimezone(timezone.utc).hour == 18  # GMT again by then
    assert due["two_days"] == london(2024, 10, 26, 10)
    assert due["two_days"].astimezone(timezone.utc).hour == 9  # still BST two days before
    assert due["seven_days"] == london(2024, 10, 21, 10)


def test_one_tenants_broken_reminder_does_not_stop_the_others(runtime, simulator):
    create_operative(runtime)
    good = create_tenant(runtime)
    broken = create_tenant(runtime, phone="+447700900456", name="Dylan Price")
    create_visit(runtime, good, london(2024, 5, 15, 10), now=london(2024, 5, 1))
    create_visit(runtime, broken, london(2024, 5, 15, 13), visit_type="repair", now=london(2024, 5, 1))
    with transaction(runtime.sessions) as session:
        # A visit type the configuration has never heard of, as a bad import might leave.
        session.execute(Visit.__table__.update().where(Visit.tenant_id == broken.id).values(visit_type="mystery"))
    counts = send_due_reminders(runtime, london(2024, 5, 13, 12))
    assert counts["sent"] == 1 and counts["failed"] == 1
    assert len(sent_to(simulator, "+447700900123")) == 1


def test_an_opt_out_right_after_a_reminder_asks_an_officer_to_call(runtime, live_app):
    from datetime import timezone as tz

    from store.models import OfficerTask
    from tests.factories import tenant_says

    visit_with_reminders_due(runtime)
    assert send_due_reminders(runtime, datetime.now(tz.utc))["sent"] == 1
    assert tenant_says(live_app, "STOP", OptOutType="STOP") == []
    with transaction(runtime.sessions) as session:
        assert "opted_out_after_reminder" in session.scalars(select(OfficerTask.kind)).all()


def test_serve_on_another_port_has_twilio_report_to_that_port(runtime, live_app, monkeypatch):
    import waitress

    import app as app_module
    from service import stack

    # Only the addresses are under test: no Rasa, action server or web server is started.
    started = []
    monkeypatch.setattr(stack, "ensure_model", lambda progress: "model.tar.gz")
    monkeypatch.setattr(stack, "start_action_server", lambda port, app_url, *rest: started.append(app_url))
    monkeypatch.setattr(stack, "start_rasa_server", lambda *args, **kwargs: None)
    monkeypatch.setattr(stack, "stop", lambda processes: None)
    monkeypatch.setattr(stack, "port_in_use", lambda port: False)
    monkeypatch.setattr(app_module, "start_recovery", lambda runtime: None)
    monkeypatch.setattr(waitress, "create_server", lambda *args, **kwargs: _ServerThatStopsAtOnce())
    monkeypatch.delenv("APP_URL")
    monkeypatch.setattr(runtime, "status_callback_url", runtime.status_callback_url)
    monkeypatch.setattr(runtime, "base_url", runtime.base_url)

    result = live_app.test_cli_runner().invoke(args=["serve", "--no-simulator", "--port", "5123"])

    assert result.exit_code == 0, result.output
    assert started == ["http://127.0.0.1:5123"]
    assert runtime.status_callback_url == "http://127.0.0.1:5123/twilio/status"
    assert runtime.base_url == "http://127.0.0.1:5123"


class _ServerThatStopsAtOnce:
    def run(self):
        return None


def test_seed_demo_reset_clears_what_tenants_said_and_keeps_officers(runtime, live_app):
    from service import messaging
    from store.models import Officer, VisitReason

    live_app.test_cli_runner().invoke(args=["seed-demo"])
    create_officer = live_app.test_cli_runner().invoke(
        args=[
            "create-officer",
            "--email",
            "officer@example.org",
            "--name",
            "Ola Reed",
            "--password",
            "correct horse 42",
        ]
    )
    assert create_officer.exit_code == 0, create_officer.output
    form = {"From": "+447700900101", "To": SENDER, "Body": "I can't do Monday, I'm at work", "MessageSid": new_sid()}
    message, _ = messaging.store_inbound(runtime, form)
    assert messaging.answer_turn(runtime, message.conversation_id, message.id, "action_rebook", "rebook", 0.95)
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(VisitReason)) == 1  # it points at the message

    result = live_app.test_cli_runner().invoke(args=["seed-demo", "--reset"])

    assert result.exit_code == 0, result.output
    assert "7 tenants" in result.output
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(VisitReason)) == 0
        assert session.scalar(select(func.count()).select_from(Message)) == 0
        assert session.scalar(select(Officer.name)) == "Ola Reed"


def test_serve_names_the_setting_to_change_when_a_port_is_taken(runtime, live_app, monkeypatch):
    from service import stack

    started = []
    monkeypatch.setattr(stack, "port_in_use", lambda port: port == 5124)
    monkeypatch.setattr(stack, "ensure_model", lambda progress: started.append("model"))
    monkeypatch.setattr(runtime, "status_callback_url", runtime.status_callback_url)
    monkeypatch.setattr(runtime, "base_url", runtime.base_url)

    result = live_app.test_cli_runner().invoke(args=["serve", "--no-simulator", "--port", "5124"])

    assert result.exit_code != 0
    assert "Port 5124 (the web app: service.port in config.yml, or serve --port) is in use" in result.output
    assert started == []  # it stops before a minute of start-up, not after
