"""Handing a conversation to a person and back (BR-19)."""

from sqlalchemy import select

from service import messaging
from service.handoff import hand_back, take_over
from store.db import transaction
from store.models import Conversation, Message
from tests.factories import create_operative, create_tenant, create_visit, london, tenant_says
from tests.test_dialogue import NOW, turn


def conversation(runtime) -> Conversation:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(Conversation))


def test_while_a_person_has_the_conversation_the_assistant_stays_silent(runtime, live_app):
    create_tenant(runtime)
    tenant_says(live_app, "")  # opens the conversation
    with transaction(runtime.sessions) as session:
        take_over(session.scalar(select(Conversation)), officer_id=1, now=NOW)

    first = tenant_says(live_app, "hello?")
    second = tenant_says(live_app, "are you there")
    assert first == [
        "I have asked a member of our team to contact you. They will reply here during office hours, "
        "Monday to Friday, 9am to 5pm."
    ]
    assert second == []
    with transaction(runtime.sessions) as session:
        bodies = session.scalars(select(Message.body).where(Message.direction == "inbound")).all()
    assert "are you there" in bodies


def test_asking_for_a_person_queues_the_conversation_and_holds_further_replies(runtime, live_app):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    assert "member of our team" in turn(runtime, "I want to talk to a person", "action_request_human")
    assert conversation(runtime).owner == "queued"
    assert tenant_says(live_app, "hello?") == []


def test_after_hand_back_the_assistant_resumes_with_its_context(runtime, live_app):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    turn(runtime, "cancel it", "action_cancel")
    turn(runtime, "actually can I speak to someone", "action_request_human")
    with transaction(runtime.sessions) as session:
        hand_back(session.scalar(select(Conversation)))
    assert conversation(runtime).owner == "assistant"
    assert "is cancelled" not in turn(runtime, "thanks", "action_thanks")


def test_when_even_the_menu_does_not_help_a_person_takes_over(runtime):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    turn(runtime, "gud", "action_fallback")
    assert "1. Confirm my visit" in turn(runtime, "hmm", "action_fallback")
    assert "member of our team" in turn(runtime, "???", "action_fallback")
    assert conversation(runtime).owner == "queued"


def test_messages_waiting_for_a_person_are_never_sent_to_rasa(runtime, live_app):
    create_tenant(runtime)
    tenant_says(live_app, "")
    with transaction(runtime.sessions) as session:
        take_over(session.scalar(select(Conversation)), officer_id=1, now=NOW)
    message, _ = messaging.store_inbound(
        runtime, {"From": "+447700900123", "To": "+441632960001", "Body": "cancel", "MessageSid": "SMhandoff1"}
    )
    messaging.process_message(runtime, message.id)
    with transaction(runtime.sessions) as session:
        assert session.get(Message, message.id).state == "answered"
        replies = session.scalars(select(Message.body).where(Message.reply_to_id == message.id)).all()
    # The holding message, not the assistant's "Do you want us to cancel...?"
    assert len(replies) == 1 and "member of our team" in replies[0]


def test_an_officer_cannot_reply_to_a_conversation_a_colleague_now_holds(runtime, live_app, simulator):
    import pytest

    from service.messaging import NotYours, send_officer_reply

    create_tenant(runtime)
    tenant_says(live_app, "")
    with transaction(runtime.sessions) as session:
        take_over(session.scalar(select(Conversation)), officer_id=1, now=NOW)
    conversation_id = conversation(runtime).id
    with transaction(runtime.sessions) as session:
        take_over(session.get(Conversation, conversation_id), officer_id=2, now=NOW)
    with pytest.raises(NotYours):
        send_officer_reply(runtime, conversation_id, "Hello, this is Sam", officer_id=1)
    assert send_officer_reply(runtime, conversation_id, "Hello, this is Priya", officer_id=2).state == "handed_over"
