"""Emergencies: the fixed safety message and an urgent alert, in every language, within the webhook call."""

import pytest
import yaml
from sqlalchemy import select

from service import i18n
from service.handoff import take_over
from service.languages import configured_languages
from service.safety import CATEGORIES, emergency_in, safety_message
from service.settings import load_settings
from store.db import transaction
from store.models import Conversation, Message, OfficerTask
from tests.factories import create_operative, create_tenant, create_visit, london, sent_to, tenant_says

CODES = [language.code for language in configured_languages(load_settings())]


def first_phrase(code: str, category: str) -> str:
    data = yaml.safe_load((i18n.LOCALES_DIR / code / "safety_words.yml").read_text(encoding="utf-8"))
    return data[category][0]


CASES = [(code, category) for code in CODES for category in CATEGORIES]


@pytest.mark.parametrize("code, category", CASES)
def test_each_emergency_gets_its_safety_message_and_an_alert_before_the_webhook_returns(
    runtime, live_app, simulator, code, category
):
    create_tenant(runtime, language=code)
    tenant_says(live_app, first_phrase(code, category), wait=False)

    # No waiting for the background worker: all of this happened inside the webhook call.
    with transaction(runtime.sessions) as session:
        reply = session.scalar(select(Message).where(Message.direction == "outbound"))
        task = session.scalar(select(OfficerTask).where(OfficerTask.kind == "urgent_safety"))
        conversation = session.scalar(select(Conversation))
    assert reply.body == safety_message(category, code)
    assert reply.state == "handed_over"
    assert [m["body"] for m in sent_to(simulator, "+447700900123")] == [reply.body]
    assert task is not None
    assert conversation.owner == "queued" and conversation.handoff_urgent


@pytest.mark.parametrize(
    "category, number",
    [
        ("gas", "0800 111 999"),
        ("carbon_monoxide", "0800 111 999"),
        ("fire", "999"),
        ("danger", "999"),
        ("distress", "116 123"),
    ],
)
def test_every_translation_keeps_the_emergency_number(category, number):
    for code in CODES:
        assert number in safety_message(category, code), code


@pytest.mark.parametrize(
    "text",
    [
        "when is my gas safety check",
        "can you check my smoke alarm",
        "the fire alarm test is tomorrow",
        "is the gas engineer coming",
        "my water bill is too high",
        "yes that's fine",
        "my carbon monoxide alarm needs a check",
    ],
)
def test_everyday_messages_about_checks_are_not_emergencies(text):
    assert emergency_in(text) is None


def test_an_emergency_mid_conversation_and_with_an_officer_still_gets_the_safety_message(runtime, live_app):
    runtime.clock = lambda: london(2024, 5, 13, 10)
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 14, 10), now=london(2024, 5, 13, 10))
    tenant_says(live_app, "")
    with transaction(runtime.sessions) as session:
        take_over(session.scalar(select(Conversation)), officer_id=1, now=london(2024, 5, 13, 10))
    tenant_says(live_app, "I can smell gas in the kitchen", wait=False)
    with transaction(runtime.sessions) as session:
        bodies = session.scalars(select(Message.body).where(Message.direction == "outbound")).all()
    assert safety_message("gas", "en") in bodies


def test_a_number_we_do_not_know_still_gets_the_safety_message(runtime, live_app):
    tenant_says(live_app, "help the house is on fire", phone="+447700900999", wait=False)
    with transaction(runtime.sessions) as session:
        bodies = session.scalars(select(Message.body).where(Message.direction == "outbound")).all()
    assert bodies == [safety_message("fire", "en")]
