"""Tenants' needs: heard in any language, kept only with consent, and acted on everywhere.

The dialogue runs as the action server drives it (the action is given, the
words are real), so each test checks the stored adjustment and what changed
because of it: reminder plan, slot length, wording, briefing, handoff.
"""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service import adjustments, i18n, messaging, reminders
from service.visits import open_visits
from store.db import transaction
from store.models import Adjustment, Conversation, Message, OfficerTask, Reminder, Tenant, Visit
from tests.factories import SENDER, booking_notice_sent, create_operative, create_tenant, create_visit, london, new_sid

NOW = london(2024, 5, 13, 10, 0)  # Monday
VISIT_AT = london(2024, 5, 20, 10, 0)  # the Monday after

# One way a tenant might say each need, in English and three other languages.
SAID = {
    "no_calls": {
        "en": "I'm deaf, please don't ring me",
        "pl": "Jestem głucha, proszę nie dzwonić",
        "es": "Soy sorda, por favor no me llamen",
        "ar": "أنا أصم، من فضلك لا تتصل بي",
    },
    "extra_time": {
        "en": "I use a wheelchair, it takes me a while to get to the door",
        "pl": "Poruszam się na wózku inwalidzkim",
        "es": "Uso silla de ruedas y tardo en llegar a la puerta",
        "ar": "أستخدم كرسي متحرك",
    },
    "support_person": {
        "en": "I need my support worker there",
        "pl": "Potrzebuję, żeby był mój pracownik socjalny",
        "es": "Necesito que esté mi trabajador social",
        "ar": "أحتاج وجود الأخصائي الاجتماعي",
    },
    "interpreter": {
        "en": "I need an interpreter",
        "pl": "Potrzebuję tłumacza",
        "es": "Necesito un intérprete",
        "ar": "أحتاج مترجم",
    },
    "female_operative": {
        "en": "please send a woman",
        "pl": "Proszę przysłać kobietę",
        "es": "Por favor, envíen a una mujer",
        "ar": "أرجو إرسال امرأة",
    },
    "extra_reminders": {
        "en": "I have anxiety, can you text the day before",
        "pl": "Mam stany lękowe",
        "es": "Tengo ansiedad, necesito otro recordatorio",
        "ar": "عندي قلق",
    },
    "call_before": {
        "en": "I'm blind, please ring me the day before",
        "pl": "Jestem niewidomy",
        "es": "Soy ciego",
        "ar": "أنا كفيف",
    },
    "plain_language": {
        "en": "I'm dyslexic, please use simple words",
        "pl": "Mam dysleksję",
        "es": "Tengo dislexia",
        "ar": "عندي عسر القراءة",
    },
}
LANGUAGES = ("en", "pl", "es", "ar")


@pytest.fixture
def frozen(runtime):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    return runtime


def turn(runtime, text, action, phone="+447700900123", intent=None, confidence=0.95):
    """One tenant message answered through the dialogue, as the action server would call it."""
    message, _ = messaging.store_inbound(runtime, {"From": phone, "To": SENDER, "Body": text, "MessageSid": new_sid()})
    messaging.answer_turn(
        runtime, message.conversation_id, message.id, action, intent or action.removeprefix("action_"), confidence
    )
    return _replies(runtime, message.id)


def arrives(runtime, text, phone="+447700900123"):
    """One tenant message through the whole pipeline (for what is answered before Rasa)."""
    message, _ = messaging.store_inbound(runtime, {"From": phone, "To": SENDER, "Body": text, "MessageSid": new_sid()})
    messaging.process_message(runtime, message.id)
    return _replies(runtime, message.id)


def _replies(runtime, message_id):
    with transaction(runtime.sessions) as session:
        return "\n".join(session.scalars(select(Message.body).where(Message.reply_to_id == message_id)).all())


def stored(runtime, tenant_id=None):
    with transaction(runtime.sessions) as session:
        query = select(Adjustment)
        if tenant_id:
            query = query.where(Adjustment.tenant_id == tenant_id)
        return list(session.scalars(query))


def conversation_of(runtime, tenant):
    with transaction(runtime.sessions) as session:
        return session.scalar(select(Conversation).where(Conversation.tenant_id == tenant.id))


def reminder_kinds(runtime, visit):
    with transaction(runtime.sessions) as session:
        return set(session.scalars(select(Reminder.kind).where(Reminder.visit_id == visit.id)))


def briefing(runtime, visit):
    with transaction(runtime.sessions) as session:
        return adjustments.briefing_for(session, session.get(Visit, visit.id))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(SAID))
def test_each_need_is_heard_kept_with_consent_and_acted_on(frozen, kind, language):
    tenant = create_tenant(frozen, language=language)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    said = SAID[kind][language]

    asked = turn(frozen, said, "action_out_of_scope")
    assert asked == i18n.render("needs_consent", language)
    assert stored(frozen) == [], "nothing is kept before the tenant agrees"

    told = turn(frozen, "yes", "action_affirm")
    assert i18n.render("needs_recorded", language) in told
    assert i18n.render(f"effect.{kind}", language) in told, "the tenant is told what will happen"

    [adjustment] = [a for a in stored(frozen) if a.kind == kind]
    assert adjustment.detail == said
    assert adjustment.recorded_by == "assistant"
    assert adjustment.consent_at is not None and adjustment.consent_how == "tenant agreed by text"
    _assert_behaviour_changed(frozen, kind, tenant, visit)


def _assert_behaviour_changed(runtime, kind, tenant, visit):
    with transaction(runtime.sessions) as session:
        conversation = session.scalar(select(Conversation).where(Conversation.tenant_id == tenant.id))
        tasks = set(session.scalars(select(OfficerTask.kind)))
        minutes = adjustments.slot_minutes(session, tenant.id, 60, runtime.settings.section("adjustments"))
    if adjustments.KINDS[kind].needs_person:
        assert conversation.owner == "queued" and conversation.handoff_reason == "adjustment"
        assert "adjustment" in tasks
    else:
        assert conversation.owner == "assistant"
    if adjustments.KINDS[kind].briefing:
        assert adjustments.KINDS[kind].briefing in briefing(runtime, visit)
    assert (minutes == 90) == (kind == "extra_time")
    assert ("morning_of" in reminder_kinds(runtime, visit)) == (kind == "extra_reminders")
    assert ("officer_call" in reminder_kinds(runtime, visit)) == (kind == "call_before")
    if kind == "plain_language":
        body = _reminder_body(runtime, visit, "two_days")
        assert body.startswith(i18n.format_slot(visit.slot_start, visit.slot_end, tenant.language))


def _reminder_body(runtime, visit, kind):
    """Send the reminder of this kind at its due time and return what the tenant got."""
    with transaction(runtime.sessions) as session:
        due = session.scalar(select(Reminder.due_at).where(Reminder.visit_id == visit.id, Reminder.kind == kind))
    runtime.clock = lambda: due
    reminders.send_due_reminders(runtime, due)
    with transaction(runtime.sessions) as session:
        reminder = session.scalar(select(Reminder).where(Reminder.visit_id == visit.id, Reminder.kind == kind))
        assert reminder.status == "sent"
        return session.get(Message, reminder.message_id).body


def test_a_declined_note_is_not_kept_and_the_interrupted_question_still_stands(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    assert "Reply YES to confirm" in _reminder_body(frozen, visit, "two_days")

    turn(frozen, "by the way I'm hard of hearing", "action_out_of_scope")
    assert turn(frozen, "no", "action_deny") == i18n.render("needs_not_recorded", "en")
    assert stored(frozen) == []

    assert "is confirmed" in turn(frozen, "yes", "action_affirm")
    with transaction(frozen.sessions) as session:
        assert session.get(Visit, visit.id).status == "confirmed"


def test_after_a_first_booking_the_assistant_asks_once_what_would_help(frozen):
    tenant = create_tenant(frozen, needs_asked=False)
    create_visit(frozen, tenant, VISIT_AT, now=NOW)
    booking_notice_sent(frozen, NOW)

    confirmed = turn(frozen, "yes", "action_affirm")
    assert "is confirmed" in confirmed and i18n.render("ask_needs", "en") in confirmed

    # Something we have no words for is kept in the tenant's own words, for a person to act on.
    assert turn(frozen, "my dog gets excited, please ring the bell twice", "action_fallback") == i18n.render(
        "needs_consent", "en"
    )
    told = turn(frozen, "yes", "action_affirm")
    assert i18n.render("effect.other", "en") in told
    [adjustment] = stored(frozen)
    assert (adjustment.kind, adjustment.detail) == ("other", "my dog gets excited, please ring the bell twice")
    assert conversation_of(frozen, tenant).owner == "queued"


def test_no_to_the_question_about_needs_is_thanked_and_not_asked_again(frozen):
    tenant = create_tenant(frozen, needs_asked=False)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    booking_notice_sent(frozen, NOW)
    turn(frozen, "yes", "action_affirm")
    assert turn(frozen, "no thanks", "action_deny") == i18n.render("needs_none", "en")
    with transaction(frozen.sessions) as session:
        session.get(Visit, visit.id).status = "booked"
    turn(frozen, "yes", "action_affirm")  # no question of ours is open: checked first
    again = turn(frozen, "yes", "action_affirm")
    assert "is confirmed" in again and i18n.render("ask_needs", "en") not in again


def test_a_need_named_while_answering_the_question_goes_to_consent(frozen):
    tenant = create_tenant(frozen, needs_asked=False)
    create_visit(frozen, tenant, VISIT_AT, now=NOW)
    turn(frozen, "yes", "action_affirm")
    assert turn(frozen, "yes, I'm in a wheelchair", "action_affirm") == i18n.render("needs_consent", "en")
    turn(frozen, "yes", "action_affirm")
    assert [a.kind for a in stored(frozen)] == ["extra_time"]


def test_moving_a_visit_for_a_tenant_who_needs_time_offers_longer_slots(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, VISIT_AT, now=NOW)
    turn(frozen, "I use a walking frame", "action_out_of_scope")
    turn(frozen, "yes", "action_affirm")

    offer = turn(frozen, "can we do wednesday morning instead", "action_rebook", intent="rebook")
    assert "1. Wed 15 May, 08:00-09:30" in offer, offer


def test_discreet_contact_is_agreed_step_by_step_and_hides_everything_identifying(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)

    assert turn(frozen, "please be discreet, my partner checks my phone", "action_out_of_scope") == i18n.render(
        "discreet_consent", "en"
    )
    assert turn(frozen, "yes", "action_affirm") == i18n.render("discreet_ask_times", "en")
    assert turn(frozen, "between 10am and 2pm", "action_out_of_scope") == i18n.render("discreet_ask_word", "en")
    done = turn(frozen, "Pineapple", "action_out_of_scope")
    assert done.startswith("Thank you. We will only text you between 10:00 and 14:00. If you send Pineapple")

    [adjustment] = stored(frozen)
    assert adjustment.kind == "discreet" and adjustment.restricted and adjustment.special_category
    assert adjustment.settings == {"channel": "sms", "safe_hours": ["10:00", "14:00"], "exit_word": "pineapple"}
    conversation = conversation_of(frozen, tenant)
    assert (conversation.owner, conversation.handoff_reason) == ("queued", "safeguarding")
    with transaction(frozen.sessions) as session:
        assert "safeguarding" in set(session.scalars(select(OfficerTask.kind)))
        # Every reminder now falls inside the safe hours.
        for reminder in session.scalars(select(Reminder).where(Reminder.visit_id == visit.id)):
            local = reminder.due_at.astimezone(i18n.LONDON).time()
            assert local.hour >= 10 and local.hour < 14, reminder.kind

    body = _reminder_body(frozen, visit, "evening_before")
    assert "gas" not in body.lower() and "Amara" not in body and "Larch" not in body
    assert body.startswith("Hello, your appointment is tomorrow") and "Priya" in body


def test_the_exit_word_gets_one_ordinary_line_and_then_quiet(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    with transaction(frozen.sessions) as session:
        adjustments.record(
            session,
            tenant.id,
            ["discreet"],
            "my ex reads my texts",
            recorded_by="officer:1",
            consent_how="told an officer by phone",
            now=NOW,
            settings={"channel": "sms", "exit_word": "pineapple"},
        )

    assert arrives(frozen, "PINEAPPLE!") == i18n.render("discreet_exit", "en")
    with transaction(frozen.sessions) as session:
        assert adjustments.silenced(adjustments.discreet_for(session, tenant.id), NOW)
        # A reminder falls due in the quiet that follows.
        reminder = session.scalars(select(Reminder).where(Reminder.visit_id == visit.id)).first()
        reminder.due_at = NOW + timedelta(minutes=30)
    frozen.clock = lambda: NOW + timedelta(hours=1)
    assert reminders.send_due_reminders(frozen, NOW + timedelta(hours=1)) == {"sent": 0, "skipped": 1}

    # Writing again is the tenant's choice, and lifts the quiet (checked before Rasa is asked anything).
    message, _ = messaging.store_inbound(
        frozen, {"From": "+447700900123", "To": SENDER, "Body": "hi", "MessageSid": new_sid()}
    )
    messaging._answer_without_rasa(frozen, message.id)
    with transaction(frozen.sessions) as session:
        assert not adjustments.silenced(adjustments.discreet_for(session, tenant.id), NOW)


def test_a_tenant_can_have_their_notes_deleted_by_text(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, VISIT_AT, now=NOW)
    turn(frozen, "I have dementia so I forget things", "action_out_of_scope")
    turn(frozen, "yes", "action_affirm")
    [adjustment] = stored(frozen)

    assert turn(frozen, "please delete what I told you", "action_out_of_scope") == i18n.render("erase_ask", "en")
    assert turn(frozen, "yes", "action_affirm") == i18n.render("erased", "en")
    assert stored(frozen) == []
    with transaction(frozen.sessions) as session:
        assert "dementia" not in session.get(Message, adjustment.message_id).body
        visit = open_visits(session, tenant.id, NOW)[0]
        assert "morning_of" not in {r.kind for r in visit.reminders if r.status == "pending"}
    assert turn(frozen, "delete my notes", "action_out_of_scope") == i18n.render("nothing_to_erase", "en")


def test_a_tenants_words_about_their_health_never_reach_the_logs(frozen, caplog):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, VISIT_AT, now=NOW)
    caplog.set_level(logging.DEBUG)
    turn(frozen, "I have terrible panic attacks since the accident", "action_out_of_scope")
    turn(frozen, "yes", "action_affirm")
    turn(frozen, "please delete what I told you", "action_out_of_scope")
    turn(frozen, "yes", "action_affirm")
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "panic" not in logged and "accident" not in logged


def test_the_database_refuses_health_data_without_consent(frozen):
    tenant = create_tenant(frozen)
    with pytest.raises(IntegrityError):
        with transaction(frozen.sessions) as session:
            session.add(Adjustment(tenant_id=tenant.id, kind="no_calls", special_category=True, recorded_by="x"))


@pytest.mark.parametrize(
    "text",
    [
        "yes that's fine",
        "can I change it to Thursday",
        "who is coming",
        "please cancel",
        "I can't make it, I'm at work",
        "can you call me",
        "the woman next door has a key",
        "my daughter will let you in",
        "stop them coming before 8",
        "the blind in my bedroom is broken",
        "the smoke alarm is disabled",
        "I can't wait longer for this repair",
    ],
)
def test_everyday_messages_are_not_taken_as_needs(text):
    assert adjustments.needs_in(text) == []
    assert not adjustments.asks_for_erasure(text)


def test_safe_hours_move_a_time_forward_to_the_next_safe_moment():
    discreet = Adjustment(settings={"safe_hours": ["10:00", "14:00"]})
    assert adjustments.within_safe_hours(discreet, london(2024, 5, 13, 8)) == london(2024, 5, 13, 10)
    assert adjustments.within_safe_hours(discreet, london(2024, 5, 13, 12)) == london(2024, 5, 13, 12)
    assert adjustments.within_safe_hours(discreet, london(2024, 5, 13, 18)) == london(2024, 5, 14, 10)
    overnight = Adjustment(settings={"safe_hours": ["22:00", "02:00"]})
    assert adjustments.within_safe_hours(overnight, london(2024, 5, 13, 23)) == london(2024, 5, 13, 23)
    assert adjustments.within_safe_hours(overnight, london(2024, 5, 13, 12)) == london(2024, 5, 13, 22)


def test_reminders_for_an_unchecked_number_say_nothing_about_the_visit(frozen):
    tenant = create_tenant(frozen, verified=False)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    body = _reminder_body(frozen, visit, "two_days")
    assert body == i18n.render("reminder_unverified", "en")
    assert "gas" not in body and "20 May" not in body

    # The answer to that reminder is the check; then the details follow, and "yes" confirms.
    frozen.clock = lambda: NOW
    assert arrives(frozen, "it's 12 Larch Close").startswith(i18n.render("verify_ok", "en") + "\nHello Amara. Your gas")
    assert "is confirmed" in turn(frozen, "yes", "action_affirm")


def test_an_unchecked_number_is_asked_for_its_address_and_handed_over_after_three_misses(frozen):
    tenant = create_tenant(frozen, verified=False)
    create_visit(frozen, tenant, VISIT_AT, now=NOW)
    assert arrives(frozen, "when is my appointment") == i18n.render("verify_ask", "en")
    assert arrives(frozen, "10 Downing Street") == i18n.render("verify_retry", "en")
    assert arrives(frozen, "Larch Close") == i18n.render("verify_retry", "en"), "the house number is needed too"
    assert arrives(frozen, "no idea") == i18n.render("verify_failed", "en")
    assert conversation_of(frozen, tenant).owner == "queued"
    with transaction(frozen.sessions) as session:
        assert session.get(Tenant, tenant.id).phone_verified_at is None


@pytest.mark.parametrize("answer", ["LS6 2AB", "ls62ab", "12, larch close leeds", "12 LARCH CL. LS6"])
def test_the_postcode_or_house_number_and_street_prove_the_number(frozen, answer):
    tenant = create_tenant(frozen, verified=False)
    arrives(frozen, "hello")
    assert arrives(frozen, answer).startswith(i18n.render("verify_ok", "en"))
    with transaction(frozen.sessions) as session:
        assert session.get(Tenant, tenant.id).phone_verified_at is not None


def test_the_day_before_reminder_names_the_operative_and_the_doorstep_code(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    body = _reminder_body(frozen, visit, "evening_before")
    with transaction(frozen.sessions) as session:
        code = session.get(Visit, visit.id).doorstep_code
    assert code and len(code) == 4 and code.isdigit()
    assert "Priya will come" in body and f"the code {code}" in body


def test_someone_at_the_door_during_the_slot_is_confirmed_with_the_code(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    frozen.clock = lambda: VISIT_AT + timedelta(minutes=20)
    answer = turn(frozen, "someone is at my door, is this you?", "action_answer_question", intent="ask_at_door")
    with transaction(frozen.sessions) as session:
        code = session.get(Visit, visit.id).doorstep_code
    assert answer.startswith("Yes, Priya is booked to visit you now") and code in answer


def test_someone_at_the_door_before_the_slot_once_the_operative_is_on_the_way_is_confirmed_with_the_code(frozen):
    # The tenant was just texted "Priya is on the way, code ..."; an early knock must not get "do not let them in".
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    frozen.clock = lambda: VISIT_AT - timedelta(minutes=90)
    with transaction(frozen.sessions) as session:
        session.get(Visit, visit.id).operative_status = "on_my_way"
    answer = turn(frozen, "someone is at my door, is this you?", "action_answer_question", intent="ask_at_door")
    with transaction(frozen.sessions) as session:
        code = session.get(Visit, visit.id).doorstep_code
        tasks = session.scalars(select(OfficerTask.kind)).all()
    assert answer.startswith("Yes, Priya is booked to visit you now") and code in answer
    assert tasks == []


def test_someone_at_the_door_with_nothing_booked_gets_a_clear_no_and_an_alert(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, VISIT_AT, now=NOW)
    answer = turn(
        frozen, "a man says he's from the council, is that right", "action_answer_question", intent="ask_at_door"
    )
    assert answer == i18n.render("door_no", "en")
    with transaction(frozen.sessions) as session:
        assert session.scalar(select(OfficerTask.kind)) == "unexpected_caller"


DISCREET_SAID = {
    "pl": ("Mój partner sprawdza mój telefon", "od 10:00 do 14:00", "Ananas"),
    "es": ("Mi pareja revisa mi teléfono", "de 10:00 a 14:00", "Piña"),
    "ar": ("زوجي يفتش هاتفي", "من 10:00 إلى 14:00", "برتقال"),
}


@pytest.mark.parametrize(
    "said",
    [
        "my husband checks my phone, is it safe to text?",
        "my wife reads my messages",
        "my boyfriend goes through my phone",
        "my ex looks at my phone",
    ],
)
def test_someone_else_reading_the_tenants_phone_offers_discreet_contact_whoever_it_is(frozen, said):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, VISIT_AT, now=NOW)
    assert turn(frozen, said, "action_out_of_scope") == i18n.render("discreet_consent", "en")


@pytest.mark.parametrize("language", list(DISCREET_SAID))
def test_discreet_contact_is_agreed_in_other_languages_too(frozen, language):
    tenant = create_tenant(frozen, language=language)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    disclosure, safe_times, exit_word = DISCREET_SAID[language]

    assert turn(frozen, disclosure, "action_out_of_scope") == i18n.render("discreet_consent", language)
    assert turn(frozen, "tak", "action_affirm") == i18n.render("discreet_ask_times", language)
    assert turn(frozen, safe_times, "action_out_of_scope") == i18n.render("discreet_ask_word", language)
    turn(frozen, exit_word, "action_out_of_scope")

    [adjustment] = stored(frozen)
    assert adjustment.settings["safe_hours"] == ["10:00", "14:00"]
    assert adjustment.settings["exit_word"] == adjustments.fold_for_matching(exit_word)
    body = _reminder_body(frozen, visit, "two_days")
    assert i18n.render("visit_type.gas_safety_check", language) not in body
    assert arrives(frozen, exit_word) == i18n.render("discreet_exit", language)


@pytest.mark.parametrize(
    "guesses",
    [
        " ".join(str(number) for number in range(1, 61)) + " high church station park oak larch elm ash close",
        "LS61AA LS61AB LS62AA LS62AB LS63AB LS64AB LS65AB",
        "12 larch close or 14 oak road or 3 elm street",
    ],
)
def test_a_message_guessing_many_addresses_at_once_never_passes_the_check(frozen, guesses):
    tenant = create_tenant(frozen, verified=False)
    arrives(frozen, "hello")
    assert arrives(frozen, guesses) == i18n.render("verify_retry", "en")
    with transaction(frozen.sessions) as session:
        assert session.get(Tenant, tenant.id).phone_verified_at is None


def test_tries_on_both_channels_count_together(frozen):
    create_tenant(frozen, verified=False, whatsapp=True)
    arrives(frozen, "hello")
    arrives(frozen, "1 Nowhere Road")
    arrives(frozen, "hello", phone="whatsapp:+447700900123")
    assert arrives(frozen, "2 Nowhere Road", phone="whatsapp:+447700900123") == i18n.render("verify_retry", "en")
    assert arrives(frozen, "3 Nowhere Road", phone="whatsapp:+447700900123") == i18n.render("verify_failed", "en")


@pytest.mark.parametrize(
    "said, hours",
    [
        ("10am to 2pm", ("10:00", "14:00")),
        ("weekdays 10am to 2pm", ("10:00", "14:00")),
        ("10pm to 6am", ("22:00", "06:00")),
        ("between 10 and 2", ("10:00", "14:00")),
        ("od 10:00 do 14:00", ("10:00", "14:00")),
        ("de 9h30 à 12h", ("09:30", "12:00")),
        ("من ١٠ إلى ١٤", ("10:00", "14:00")),
        ("4 to 8pm", ("16:00", "20:00")),
        ("whenever", None),
    ],
)
def test_safe_texting_hours_are_read_as_a_window(said, hours):
    from service.needs import safe_hours_in

    assert safe_hours_in(said) == hours


@pytest.mark.parametrize("word", ["yes", "STOP", "I can smell gas", "x" * 41])
def test_an_exit_word_that_would_also_mean_something_else_is_asked_for_again(frozen, word):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, VISIT_AT, now=NOW)
    turn(frozen, "please be discreet, my partner checks my phone", "action_out_of_scope")
    turn(frozen, "yes", "action_affirm")
    turn(frozen, "10am to 2pm", "action_out_of_scope")
    assert turn(frozen, word, "action_out_of_scope") == i18n.render("discreet_ask_word", "en")
    assert "exit_word" not in stored(frozen)[0].settings


def test_stop_or_asking_for_a_person_comes_before_a_need_in_the_same_message(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, VISIT_AT, now=NOW)
    turn(frozen, "stop texting me, I have anxiety", "action_stop")
    with transaction(frozen.sessions) as session:
        assert session.get(Tenant, tenant.id).sms_opted_out
    assert stored(frozen) == []


def test_erasing_notes_keeps_discreet_contact_safe(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, VISIT_AT, now=NOW)
    with transaction(frozen.sessions) as session:
        adjustments.record(
            session,
            tenant.id,
            ["discreet", "no_calls"],
            "my ex reads my texts and I am deaf",
            recorded_by="officer:1",
            consent_how="told an officer by phone",
            now=NOW,
            settings={"channel": "sms", "exit_word": "pineapple"},
        )
    turn(frozen, "please delete what I told you", "action_out_of_scope")
    turn(frozen, "yes", "action_affirm")
    [kept] = stored(frozen)
    assert (kept.kind, kept.detail, kept.restricted) == ("discreet", "", True)
    assert kept.settings["exit_word"] == "pineapple"
    assert "gas" not in _reminder_body(frozen, visit, "two_days")


def test_erasure_also_blanks_the_tenants_words_about_why_visits_did_not_suit(frozen):
    from store.models import VisitReason

    tenant = create_tenant(frozen)
    with transaction(frozen.sessions) as session:
        session.add(VisitReason(tenant_id=tenant.id, category="unwell", words="I was in hospital with my son"))
    with transaction(frozen.sessions) as session:
        adjustments.erase(session, tenant.id)
    with transaction(frozen.sessions) as session:
        reason = session.scalar(select(VisitReason))
    assert (reason.category, reason.words) == ("unwell", "")
