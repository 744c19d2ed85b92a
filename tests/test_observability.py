"""Watching the service: Prometheus metrics, and a limit on how fast one number can drive the assistant."""

from sqlalchemy import select

from service import messaging
from store.db import transaction
from store.models import Message, OfficerTask
from tests.factories import SENDER, create_tenant, new_sid


def store(runtime, body, phone="+447700900123"):
    message, _ = messaging.store_inbound(runtime, {"From": phone, "To": SENDER, "Body": body, "MessageSid": new_sid()})
    return message


def test_a_flood_from_one_number_is_kept_but_not_answered_and_an_officer_is_told_once(runtime):
    create_tenant(runtime)
    limit = runtime.settings.section("assistant")["max_messages_per_minute"]
    messages = [store(runtime, f"auto-reply number {index}") for index in range(limit + 3)]

    assert not messaging._answer_without_rasa(runtime, messages[limit - 1].id), "the limit itself is still answered"
    for message in messages[limit:]:
        assert messaging._answer_without_rasa(runtime, message.id)
    with transaction(runtime.sessions) as session:
        states = [session.get(Message, message.id).state for message in messages[limit:]]
        tasks = session.scalars(select(OfficerTask.kind)).all()
        replies = session.scalars(select(Message).where(Message.direction == "outbound")).all()
    assert states == ["throttled"] * 3
    assert tasks == ["message_flood"]
    assert replies == []


def test_an_emergency_is_answered_even_in_a_flood(runtime):
    create_tenant(runtime)
    limit = runtime.settings.section("assistant")["max_messages_per_minute"]
    for index in range(limit + 2):
        store(runtime, f"hello {index}")
    emergency = store(runtime, "I can smell gas in the kitchen")
    assert messaging._answer_without_rasa(runtime, emergency.id)
    with transaction(runtime.sessions) as session:
        reply = session.scalar(select(Message).where(Message.reply_to_id == emergency.id))
    assert "0800 111 999" in reply.body


def test_metrics_count_messages_and_read_queue_depth_without_personal_data(runtime, live_app):
    create_tenant(runtime)
    store(runtime, "hi")  # stored and counted, as the webhook does, without waking the model
    client = live_app.test_client()
    page = client.get("/metrics")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'assistant_messages_in_total{channel="sms"}' in text
    assert 'assistant_queue_depth{kind="inbound_waiting"}' in text
    assert "447700900123" not in text


def test_metrics_need_the_token_when_one_is_set(runtime, live_app, monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-for-tests")
    client = live_app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-for-tests"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 401
