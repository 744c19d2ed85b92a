"""Sending through the real twilio client to the simulator, including its refusals."""

from sqlalchemy import select

from service import messaging
from service.twilio_gateway import _backoff
from store.db import transaction
from store.models import Message, OfficerTask, Tenant
from tests.factories import create_tenant, sent_to


def stored_reply(runtime, body="Hello", phone="+447700900123") -> int:
    with transaction(runtime.sessions) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.phone == phone))
        message = Message(
            direction="outbound",
            channel="sms",
            tenant_id=tenant.id,
            from_address="",
            to_address=phone,
            body=body,
            status="pending",
            state="pending",
        )
        session.add(message)
    return message.id


def test_a_rate_limited_send_is_retried_and_sent_once(runtime, simulator):
    create_tenant(runtime)
    simulator.state.faults.queued = [429, 429]
    message_id = stored_reply(runtime)
    messaging.deliver(runtime, message_id)
    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
    assert message.state == "handed_over" and message.twilio_sid.startswith("SM")
    assert len(sent_to(simulator, "+447700900123")) == 1


def test_a_server_error_is_not_resent_blindly_but_flagged_for_review(runtime, simulator):
    create_tenant(runtime)
    simulator.state.faults.queued = [500]
    message_id = stored_reply(runtime)
    messaging.deliver(runtime, message_id)
    messaging.deliver(runtime, message_id)  # a second attempt must not send it again
    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
        task = session.scalar(select(OfficerTask))
    assert message.state == "unconfirmed"
    assert task.kind == "send_failed"
    assert sent_to(simulator, "+447700900123") == []


def test_an_opted_out_number_is_recorded_when_twilio_refuses_with_21610(runtime, simulator):
    create_tenant(runtime)
    message_id = stored_reply(runtime)
    simulator.state.faults.queued = ["21610"]
    messaging.deliver(runtime, message_id)
    with transaction(runtime.sessions) as session:
        tenant = session.scalar(select(Tenant))
        task = session.scalar(select(OfficerTask))
        message = session.get(Message, message_id)
    assert tenant.sms_opted_out is True
    assert task.kind == "check_contact_details"
    assert (message.state, message.error_code) == ("failed", "21610")


def test_backoff_grows_but_stays_bounded():
    for attempt in range(10):
        assert 0 <= _backoff(attempt) <= 4.0
