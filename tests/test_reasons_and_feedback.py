"""Reasons tenants give of their own accord, and the one "how did your visit go?" question after a visit.

The clock is frozen on the morning of a visit (Tue 14 May 2024, 10:00-11:00
London time). Operatives report through the real API; the tenant's side runs the
dialogue the way the action server does; texts land in the simulator.
"""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from service import adjustments, api_keys, messaging, reasons
from store.db import transaction
from store.models import Message, Tenant, VisitFeedback, VisitReason
from tests.factories import SENDER, create_operative, create_tenant, create_visit, london, new_sid, sent_to

NOW = london(2024, 5, 14, 9, 30)  # Tuesday morning
SLOT = london(2024, 5, 14, 10, 0)  # the visit: 10:00-11:00
FINISHED = london(2024, 5, 14, 10, 50)
PHONE = "+447700900123"
QUESTION = "How did your visit go? Reply with a number from 1 (poor) to 5 (very good), or ignore this message."


@pytest.fixture
def frozen(runtime):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    return runtime


@pytest.fixture
def key(frozen):
    with transaction(frozen.sessions) as session:
        return api_keys.create_key(session, "Scheduler", ["operative_status"])


def booked(runtime, **tenant):
    return create_visit(
        runtime, create_tenant(runtime, **tenant), SLOT, reference="GAS-1001", now=NOW - timedelta(days=10)
    )


def finish(runtime, client, key, at=FINISHED):
    runtime.clock = lambda: at
    answer = client.post(
        "/api/v1/visits/GAS-1001/status", json={"status": "finished"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def turn(runtime, text, action, phone=PHONE):
    """One tenant message answered by the dialogue, as the action server would ask for it."""
    message, _ = messaging.store_inbound(runtime, {"From": phone, "To": SENDER, "Body": text, "MessageSid": new_sid()})
    intent = action.removeprefix("action_")
    assert messaging.answer_turn(runtime, message.conversation_id, message.id, action, intent, 0.95)
    with transaction(runtime.sessions) as session:
        return "\n".join(session.scalars(select(Message.body).where(Message.reply_to_id == message.id)).all())


def stored_reasons(runtime) -> list[tuple]:
    with transaction(runtime.sessions) as session:
        rows = session.scalars(select(VisitReason).order_by(VisitReason.id))
        return [(reason.category, reason.words, reason.visit_id, reason.message_id is not None) for reason in rows]


def feedback(runtime) -> list[VisitFeedback]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(VisitFeedback).order_by(VisitFeedback.id)))


def texts_to(simulator, phone=PHONE) -> list[str]:
    return [message["body"] for message in sent_to(simulator, phone)]


# Reasons.


@pytest.mark.parametrize(
    "text, category",
    [
        ("Sorry I can't do Tuesday, I'm working that day", "at_work"),
        ("I was in hospital, sorry", "unwell"),
        ("I have to do the school run then", "caring"),
        ("sorry I completely forgot!", "forgot"),
        ("Nobody told me you were coming", "did_not_know"),
        ("I'm scared of letting people in", "afraid"),
        ("I didn't hear the door, I was asleep", "cannot_reach_door"),
        ("can't make it because of the dog", "other"),
        ("Can we do Thursday instead?", None),
    ],
)
def test_a_reason_is_put_in_its_category_by_the_phrase_lists(text, category):
    assert reasons.category_of(text) == category


def test_the_phrase_lists_of_every_language_are_read_and_english_alone_is_enough(tmp_path, monkeypatch):
    for code, words in (("en", "at_work: [at work]\n"), ("xx", "at_work: [na pracy]\nforgot: [zapomnialam]\n")):
        (tmp_path / code).mkdir()
        (tmp_path / code / "reason_words.yml").write_text(words, encoding="utf-8")
    (tmp_path / "yy").mkdir()  # a language translators have not reached yet
    monkeypatch.setattr(reasons, "LOCALES_DIR", tmp_path)
    reasons._patterns.cache_clear()
    try:
        assert reasons.category_of("jestem na pracy") == "at_work"
        assert reasons.category_of("zapomniałam") == "forgot"
        assert reasons.category_of("I am at work") == "at_work"
        assert reasons.category_of("I was unwell") is None
    finally:
        reasons._patterns.cache_clear()


def test_a_reason_given_while_cancelling_is_kept_with_the_words_and_never_logged(frozen, caplog):
    visit = booked(frozen)
    words = "Please cancel, I'm in hospital that week"
    with caplog.at_level(logging.DEBUG):
        turn(frozen, words, "action_cancel")
    assert stored_reasons(frozen) == [("unwell", words, visit.id, True)]
    assert "hospital" not in caplog.text
    assert not any("hospital" in str(value) for record in caplog.records for value in record.__dict__.values())


def test_a_reason_for_a_missed_visit_says_the_visit_was_missed(frozen):
    visit = booked(frozen)
    with transaction(frozen.sessions) as session:
        conversation = messaging.conversation_for(session, PHONE, "sms")
        conversation.state = {"visit_id": visit.id}
        session.get(type(visit), visit.id).status = "no_access"
    turn(frozen, "Sorry, I forgot. Can we do next week?", "action_rebook")
    with transaction(frozen.sessions) as session:
        reason = session.scalar(select(VisitReason))
        assert (reason.category, reason.visit_id, reason.visit_status) == ("forgot", visit.id, "no_access")


def test_no_reason_is_kept_when_none_is_given_and_none_is_asked_for(frozen):
    booked(frozen)
    replies = turn(frozen, "Can we do Thursday instead?", "action_rebook")
    turn(frozen, "I'm at work", "action_greet")  # not an explanation of a visit that does not suit
    assert stored_reasons(frozen) == []
    assert "why" not in replies.lower()


# How the visit went.


def test_after_finished_the_tenant_gets_one_question_and_the_answer_is_kept_once(frozen, client, key, simulator):
    visit = booked(frozen)
    finish(frozen, client, key)
    assert texts_to(simulator) == [QUESTION]

    assert turn(frozen, "5", "action_fallback") == "Thank you for telling us."
    [answer] = feedback(frozen)
    assert (answer.visit_id, answer.score, answer.words, answer.answered_at) == (visit.id, 5, None, FINISHED)

    # The question is answered: another number is just a message again.
    assert turn(frozen, "2", "action_fallback") != "Thank you for telling us."
    assert feedback(frozen)[0].score == 5


def test_a_score_with_words_is_kept_with_both(frozen, client, key):
    booked(frozen)
    finish(frozen, client, key)
    assert turn(frozen, "4 out of 5, he was very tidy", "action_fallback") == "Thank you for telling us."
    assert (feedback(frozen)[0].score, feedback(frozen)[0].words) == (4, "he was very tidy")


def test_anything_that_is_not_an_answer_falls_through_to_the_normal_handling(frozen, client, key):
    booked(frozen)
    finish(frozen, client, key)
    replies = turn(frozen, "Can I book a repair for my sink?", "action_request_human")
    assert "Thank you for telling us." not in replies and replies
    assert feedback(frozen)[0].answered_at is None


def test_words_alone_are_kept_without_a_score(frozen, client, key):
    booked(frozen)
    finish(frozen, client, key)
    assert turn(frozen, "It went really well thanks", "action_thanks") == "Thank you for telling us."
    assert (feedback(frozen)[0].score, feedback(frozen)[0].words) == (None, "It went really well thanks")


def test_an_unchecked_number_is_not_asked(frozen, client, key, simulator):
    booked(frozen, verified=False)
    finish(frozen, client, key)
    assert texts_to(simulator) == [] and feedback(frozen) == []


def test_an_opted_out_tenant_is_not_asked(frozen, client, key, simulator):
    visit = booked(frozen)
    with transaction(frozen.sessions) as session:
        session.get(Tenant, visit.tenant_id).sms_opted_out = True
    finish(frozen, client, key)
    assert texts_to(simulator) == [] and feedback(frozen) == []


def test_nobody_is_asked_in_the_quiet_hours(frozen, client, key, simulator):
    booked(frozen)
    finish(frozen, client, key, at=london(2024, 5, 14, 21, 30))
    assert texts_to(simulator) == [] and feedback(frozen) == []


def discreet(runtime, tenant_id, safe_hours):
    with transaction(runtime.sessions) as session:
        adjustments.record(
            session,
            tenant_id,
            ["discreet"],
            "my partner reads my texts",
            recorded_by="officer:1",
            consent_how="told an officer by phone",
            now=NOW,
            settings={"channel": "sms", "safe_hours": safe_hours, "exit_word": "pineapple"},
        )


def test_discreet_contact_gets_neutral_words_in_safe_hours_and_nothing_outside_them(frozen, client, key, simulator):
    visit = booked(frozen)
    discreet(frozen, visit.tenant_id, ["08:00", "20:00"])
    finish(frozen, client, key)
    [text] = texts_to(simulator)
    assert text.startswith("How did your appointment go?") and "visit" not in text

    simulator.state.messages.clear()
    other = create_tenant(frozen, phone="+447700900124", name="Bea Lund")
    create_visit(frozen, other, SLOT, reference="GAS-1002", now=NOW - timedelta(days=10))
    discreet(frozen, other.id, ["18:00", "20:00"])
    frozen.clock = lambda: FINISHED
    answer = client.post(
        "/api/v1/visits/GAS-1002/status", json={"status": "finished"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200
    assert texts_to(simulator, "+447700900124") == []


def test_a_score_typed_in_arabic_or_persian_digits_is_read():
    from service.satisfaction import _read

    assert _read("٥ ممتاز") == (5, "ممتاز")
    assert _read("۴") == (4, "")
