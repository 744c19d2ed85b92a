"""WhatsApp: free text inside the 24-hour window, approved templates outside it, SMS when neither works.

Sends go through the official twilio client to the simulator, so what is
checked is what Twilio would have received (ContentSid and ContentVariables,
or Body) and what we recorded about the route.
"""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from service import i18n, messaging, reminders
from store.db import transaction
from store.models import Conversation, Message, OfficerTask, Reminder
from tests.console_factories import create_officer, page, post_form, sign_in, taken_conversation
from tests.factories import create_operative, create_tenant, create_visit, london, sent_to, wait_for

NOW = london(2024, 5, 13, 10, 0)
VISIT_AT = london(2024, 5, 20, 10, 0)
WHATSAPP = "whatsapp:+447700900123"
SMS = "+447700900123"


@pytest.fixture
def frozen(runtime):
    runtime.clock = lambda: NOW
    return runtime


def send_reminder(runtime, visit, kind="two_days") -> Message:
    with transaction(runtime.sessions) as session:
        due = session.scalar(select(Reminder.due_at).where(Reminder.visit_id == visit.id, Reminder.kind == kind))
    reminders.send_due_reminders(runtime, due)
    with transaction(runtime.sessions) as session:
        reminder = session.scalar(select(Reminder).where(Reminder.visit_id == visit.id, Reminder.kind == kind))
        return session.get(Message, reminder.message_id)


def tenant_wrote_on_whatsapp(runtime, tenant, hours_ago: float) -> None:
    with transaction(runtime.sessions) as session:
        conversation = messaging.conversation_for(session, tenant.phone, "whatsapp")
        conversation.last_inbound_at = NOW - timedelta(hours=hours_ago)


def test_outside_the_window_a_reminder_goes_as_the_approved_template_with_every_variable(frozen, simulator):
    create_operative(frozen)
    tenant = create_tenant(frozen, whatsapp=True)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    tenant_wrote_on_whatsapp(frozen, tenant, hours_ago=30)

    message = send_reminder(frozen, visit)
    [sent] = sent_to(simulator, WHATSAPP)
    assert sent["content_sid"] == frozen.settings.section("whatsapp_templates")["reminder"]["content_sids"]["en"]
    assert sent["body"] == ""
    slot = i18n.format_slot(visit.slot_start, visit.slot_end, "en")
    assert json.loads(sent["content_variables"]) == {"1": "Amara", "2": "gas safety check", "3": slot}
    assert message.channel == "whatsapp" and message.state == "handed_over"


def test_inside_the_window_the_reminder_is_free_text(frozen, simulator):
    create_operative(frozen)
    tenant = create_tenant(frozen, whatsapp=True)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    tenant_wrote_on_whatsapp(frozen, tenant, hours_ago=2)

    send_reminder(frozen, visit)
    [sent] = sent_to(simulator, WHATSAPP)
    assert sent["content_sid"] is None and sent["body"].startswith("Hello Amara, your gas safety check")


def test_without_a_template_in_the_tenants_language_it_goes_by_sms_and_says_why(frozen, simulator):
    create_operative(frozen)
    tenant = create_tenant(frozen, whatsapp=True, language="pl")
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)

    message = send_reminder(frozen, visit)
    assert sent_to(simulator, WHATSAPP) == []
    [sent] = sent_to(simulator, SMS)
    assert sent["body"] == message.body and not message.body.startswith("Hello")
    assert message.channel == "sms"
    assert "no approved template for reminder in pl" in message.raw["routing"]
    with transaction(frozen.sessions) as session:
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation.channel == "sms", "the message sits in the SMS transcript it went by"


def test_a_missing_operative_is_filled_with_words_never_an_empty_variable(frozen, simulator):
    tenant = create_tenant(frozen, whatsapp=True)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)  # no operative exists yet

    send_reminder(frozen, visit, kind="evening_before")
    [sent] = sent_to(simulator, WHATSAPP)
    variables = json.loads(sent["content_variables"])
    assert variables["4"] == "one of our team"
    assert all(value.strip() for value in variables.values())


def test_whatsapp_reporting_it_could_not_deliver_sends_the_same_words_once_by_sms(frozen, simulator):
    create_operative(frozen)
    tenant = create_tenant(frozen, whatsapp=True)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    tenant_wrote_on_whatsapp(frozen, tenant, hours_ago=2)
    simulator.state.faults.queued.append("async:63016")

    message = send_reminder(frozen, visit)
    [by_sms] = wait_for(lambda: sent_to(simulator, SMS))
    assert by_sms["body"] == message.body
    with transaction(frozen.sessions) as session:
        original = session.get(Message, message.id)
        assert (original.status, original.error_code) == ("failed", "63016")
        retry = session.get(Message, original.raw["retried_as"])
        assert retry.channel == "sms" and "63016" in retry.raw["routing"]

    # A second failure report for the same message changes nothing.
    messaging.record_status(
        frozen, {"MessageSid": original.twilio_sid, "MessageStatus": "undelivered", "ErrorCode": "63016"}
    )
    frozen.worker.wait_idle(10)
    assert len(sent_to(simulator, SMS)) == 1


def test_an_officer_outside_the_window_can_send_the_approved_follow_up_template(runtime, live_app, simulator):
    officer = create_officer(runtime)
    client = live_app.test_client()
    sign_in(client)
    tenant = create_tenant(runtime, whatsapp=True)
    conversation = taken_conversation(runtime, client, officer, tenant, channel="whatsapp")
    with transaction(runtime.sessions) as session:
        session.get(Conversation, conversation.id).last_inbound_at = runtime.clock() - timedelta(hours=25)

    assert "Send the follow-up template" in page(client, f"/console/conversations/{conversation.id}")
    post_form(client, f"/console/conversations/{conversation.id}/template")
    [sent] = sent_to(simulator, WHATSAPP)
    templates = runtime.settings.section("whatsapp_templates")
    assert sent["content_sid"] == templates["officer_follow_up"]["content_sids"]["en"]
    assert json.loads(sent["content_variables"]) == {"1": "Amara"}


def test_a_discreet_tenant_is_never_switched_to_sms_and_a_person_is_told(frozen, simulator):
    from service import adjustments

    create_operative(frozen)
    tenant = create_tenant(frozen, whatsapp=True)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    tenant_wrote_on_whatsapp(frozen, tenant, hours_ago=2)
    with transaction(frozen.sessions) as session:
        adjustments.record(
            session,
            tenant.id,
            ["discreet"],
            "my husband reads my texts",
            recorded_by="officer:1",
            consent_how="told an officer by phone",
            now=NOW,
            settings={"channel": "whatsapp", "safe_hours": ["09:00", "17:00"]},
        )
        # Due now, while the tenant's WhatsApp window is open.
        reminder = session.scalar(select(Reminder).where(Reminder.visit_id == visit.id, Reminder.kind == "two_days"))
        reminder.due_at = NOW
    simulator.state.faults.queued.append("async:63016")

    reminders.send_due_reminders(frozen, NOW)
    assert wait_for(lambda: [m for m in sent_to(simulator, WHATSAPP) if m["status"] == "failed"])
    frozen.worker.wait_idle(10)
    assert sent_to(simulator, SMS) == []
    with transaction(frozen.sessions) as session:
        kinds = session.scalars(select(OfficerTask.kind)).all()
    assert "safeguarding" in kinds
