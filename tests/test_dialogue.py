"""The dialogue's decisions for each Rasa action, without the model in the loop.

Each test stores a real inbound message and runs the action the way the action
server does, so what is checked is the stored reply and the visit's history.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from service import messaging
from store.db import transaction
from store.models import Message, OfficerTask, Reminder, Tenant, Visit
from tests.factories import SENDER, create_operative, create_tenant, create_visit, get_visit, london, new_sid

NOW = london(2024, 5, 13, 10, 0)  # Monday


@pytest.fixture
def frozen(runtime):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    return runtime


def turn(runtime, text, action, confidence=0.95, phone="+447700900123", intent=None):
    message, _ = messaging.store_inbound(runtime, {"From": phone, "To": SENDER, "Body": text, "MessageSid": new_sid()})
    handled = messaging.answer_turn(
        runtime, message.conversation_id, message.id, action, intent or action.removeprefix("action_"), confidence
    )
    assert handled
    with transaction(runtime.sessions) as session:
        return "\n".join(session.scalars(select(Message.body).where(Message.reply_to_id == message.id)).all())


def test_yes_to_a_reminder_confirms_the_visit(frozen):
    from service.reminders import send_due_reminders

    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 20, 10), now=NOW - timedelta(days=3))
    send_due_reminders(frozen, london(2024, 5, 13, 11))
    reply = turn(frozen, "yes", "action_affirm")
    assert reply.startswith("Thank you, your gas safety check on Mon 20 May, 10:00-11:00 is confirmed.")
    assert get_visit(frozen, visit.id).status == "confirmed"


def test_a_yes_to_no_question_about_the_visit_is_checked_before_it_counts(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    reply = turn(frozen, "yes", "action_affirm")
    assert (
        reply == "Just to check, is that a yes for your gas safety check on Tue 14 May, 10:00-11:00? Reply YES or NO."
    )
    assert get_visit(frozen, visit.id).status == "booked"

    reply = turn(frozen, "yes", "action_affirm")
    assert reply.startswith("Thank you, your gas safety check on Tue 14 May, 10:00-11:00 is confirmed.")
    assert get_visit(frozen, visit.id).status == "confirmed"


def test_yes_please_to_what_time_suits_you_keeps_asking_and_confirms_nothing(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    assert turn(frozen, "I can't make that, can I change it?", "action_rebook").startswith("No problem.")
    assert turn(frozen, "yes please", "action_affirm").startswith("No problem. What day and time would suit you")
    assert get_visit(frozen, visit.id).status == "booked"


def test_a_second_yes_after_a_cancel_does_not_confirm_the_other_visit(frozen):
    tenant = create_tenant(frozen)
    gas = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    repair = create_visit(frozen, tenant, london(2024, 5, 17, 10), visit_type="repair", now=NOW)
    assert turn(frozen, "cancel the gas check", "action_cancel").startswith("Do you want us to cancel")
    assert turn(frozen, "yes", "action_affirm").startswith("Your gas safety check")
    reply = turn(frozen, "yes", "action_affirm")
    assert reply.startswith("Just to check, is that a yes for your repair")
    assert (get_visit(frozen, gas.id).status, get_visit(frozen, repair.id).status) == ("cancelled", "booked")


def test_a_yes_to_cancel_after_the_visit_was_moved_elsewhere_names_the_new_time_and_changes_nothing(frozen):
    from service.slots import Slot
    from service.visits import move_visit

    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    assert turn(frozen, "cancel please", "action_cancel").startswith("Do you want us to cancel")
    with transaction(frozen.sessions) as session:
        stored = session.get(Visit, visit.id)
        new_slot = Slot(london(2024, 5, 15, 10), london(2024, 5, 15, 11), stored.operative_id)
        move_visit(session, stored, new_slot, "system", frozen.settings, NOW, agreed=False)

    reply = turn(frozen, "yes", "action_affirm")
    assert reply.startswith("Just to check, is that a yes for your gas safety check on Wed 15 May, 10:00-11:00?")
    assert get_visit(frozen, visit.id).status == "booked"


def test_a_doubtful_yes_is_checked_before_anything_changes(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    reply = turn(frozen, "ok 👍", "action_affirm", confidence=0.55)
    assert reply.startswith("Just to check, is that a yes")
    assert get_visit(frozen, visit.id).status == "booked"
    turn(frozen, "yes", "action_affirm")
    assert get_visit(frozen, visit.id).status == "confirmed"


def test_cancel_needs_an_explicit_yes(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    question = turn(frozen, "please cancel my appointment", "action_cancel")
    assert "Reply YES to cancel it, or NO to keep it" in question
    assert get_visit(frozen, visit.id).status == "booked"

    answer = turn(frozen, "yes", "action_affirm")
    assert "is cancelled" in answer
    saved = get_visit(frozen, visit.id)
    assert saved.status == "cancelled"
    assert [event.status for event in saved.history] == ["booked", "cancelled"]
    with transaction(frozen.sessions) as session:
        assert session.scalar(select(OfficerTask.kind)) == "visit_cancelled"
        assert {r.status for r in session.scalars(select(Reminder))} <= {"replaced"}


def test_no_after_a_cancel_question_keeps_the_visit(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    turn(frozen, "cancel it", "action_cancel")
    assert turn(frozen, "no", "action_deny").startswith("No problem, your gas safety check stays on")
    assert get_visit(frozen, visit.id).status == "booked"


def test_move_offers_real_free_slots_and_moves_only_after_yes(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    other = create_tenant(frozen, phone="+447700900456", name="Dylan Price")
    create_visit(frozen, other, london(2024, 5, 16, 13), now=NOW)  # the operative is busy Thu 13:00-14:00

    offer = turn(frozen, "can you do Thursday afternoon instead?", "action_rebook")
    assert "I can offer these times for your gas safety check:" in offer
    lines = [line for line in offer.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert len(lines) == 3
    assert all("Thu 16 May" in line for line in lines)
    assert not any("13:00-14:00" in line for line in lines)

    check = turn(frozen, "2", "action_fallback")
    assert check.startswith("Just to check: move your gas safety check to Thu 16 May")
    assert get_visit(frozen, visit.id).slot_start == london(2024, 5, 14, 10)

    done = turn(frozen, "yes", "action_affirm")
    assert done.startswith("Done. Your gas safety check is now on Thu 16 May")
    moved = get_visit(frozen, visit.id)
    assert moved.slot_start.astimezone(london(2024, 5, 16).tzinfo).date() == london(2024, 5, 16).date()
    assert [event.status for event in moved.history] == ["booked", "moved", "confirmed"]
    with transaction(frozen.sessions) as session:
        reminders = session.scalars(select(Reminder).where(Reminder.visit_id == visit.id)).all()
        pending = [r for r in reminders if r.status == "pending"]
        # The old slot's reminders are replaced by the new slot's, none already past.
        assert {r.kind: r.due_at for r in pending} == {
            "two_days": moved.slot_start - timedelta(days=2),
            "evening_before": london(2024, 5, 15, 18),
        }
        assert {r.status for r in reminders if r not in pending} <= {"replaced"}


def test_a_slot_taken_meanwhile_is_not_double_booked(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    turn(frozen, "can you do thursday morning", "action_rebook")
    turn(frozen, "1", "action_fallback")
    with transaction(frozen.sessions) as session:
        state = session.scalar(select(Message.conversation_id).where(Message.direction == "inbound"))
    # Someone else takes Thursday's first slot before the tenant says yes.
    other = create_tenant(frozen, phone="+447700900456", name="Dylan Price")
    create_visit(frozen, other, london(2024, 5, 16, 8), now=NOW)
    reply = turn(frozen, "yes", "action_affirm")
    assert "that time has just been taken" in reply
    assert get_visit(frozen, visit.id).slot_start == london(2024, 5, 14, 10)
    assert state


def test_two_misunderstandings_bring_the_numbered_menu(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    assert turn(frozen, "gud", "action_fallback").startswith("Sorry, I did not quite understand")
    menu = turn(frozen, "hmm", "action_fallback")
    assert "1. Confirm my visit" in menu and "2. Change my visit" in menu and "3. Speak to someone" in menu
    assert "is confirmed" in turn(frozen, "1", "action_fallback")


def test_when_even_the_menu_does_not_help_a_person_takes_over_with_a_task_that_says_why(frozen):
    create_tenant(frozen)
    turn(frozen, "gud", "action_fallback")
    assert "3. Speak to someone" in turn(frozen, "hmm", "action_fallback")
    assert turn(frozen, "???", "action_fallback").startswith("I have asked a member of our team to contact you.")
    with transaction(frozen.sessions) as session:
        assert session.scalars(select(OfficerTask.kind)).all() == ["not_understood"]


def test_a_valid_message_after_the_menu_is_understood_and_resets_the_count(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    turn(frozen, "gud", "action_fallback")
    turn(frozen, "???", "action_fallback")
    assert "Reply YES to cancel it" in turn(frozen, "cancel", "action_cancel")
    assert turn(frozen, "hmm", "action_fallback").startswith("Sorry, I did not quite understand")


def test_several_visits_make_the_tenant_choose(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    damp = create_visit(frozen, tenant, london(2024, 5, 20, 13), visit_type="damp_survey", now=NOW)
    question = turn(frozen, "cancel please", "action_cancel")
    assert "more than one visit" in question
    assert "1. gas safety check, Tue 14 May" in question and "2. damp and mould survey, Mon 20 May" in question
    assert "cancel your damp and mould survey" in turn(frozen, "2", "action_fallback")
    turn(frozen, "yes", "action_affirm")
    assert get_visit(frozen, damp.id).status == "cancelled"


def test_naming_the_visit_type_picks_that_visit(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    create_visit(frozen, tenant, london(2024, 5, 20, 13), visit_type="damp_survey", now=NOW)
    assert "damp and mould survey is on Mon 20 May" in turn(
        frozen, "when is the damp survey", "action_answer_question", intent="ask_when"
    )


@pytest.mark.parametrize(
    "intent, expected",
    [
        ("ask_when", "Your gas safety check is on Tue 14 May, 10:00-11:00."),
        ("ask_who", "Priya will come for your gas safety check"),
        ("ask_what", "boiler"),
        ("ask_duration", "usually takes about 1 hour"),
    ],
)
def test_questions_about_the_visit_are_answered_from_the_booking(frozen, intent, expected):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    assert expected in turn(frozen, "?", "action_answer_question", intent=intent)


def test_asking_for_a_person_creates_a_task_and_says_when(frozen):
    create_tenant(frozen)
    reply = turn(frozen, "can I talk to a real person", "action_request_human")
    assert "Monday to Friday, 9am to 5pm" in reply
    with transaction(frozen.sessions) as session:
        assert session.scalar(select(OfficerTask.kind)) == "handoff"


def test_no_visits_gets_a_clear_answer(frozen):
    create_tenant(frozen)
    assert "no visits booked" in turn(frozen, "yes", "action_affirm")


def test_a_late_yes_days_after_the_reminder_confirms_that_visit(frozen):
    from service.reminders import send_due_reminders

    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 20, 10), now=NOW - timedelta(days=3))
    # Another open visit, whose own reminders are not due: the yes must not land on it.
    create_visit(frozen, tenant, london(2024, 5, 22, 10), visit_type="damp_survey", plan=False)
    send_due_reminders(frozen, london(2024, 5, 13, 11))
    frozen.clock = lambda: london(2024, 5, 16, 18, 30)
    assert "is confirmed" in turn(frozen, "yes", "action_affirm")
    assert get_visit(frozen, visit.id).status == "confirmed"
    with transaction(frozen.sessions) as session:
        assert session.scalar(select(Visit.status).where(Visit.visit_type == "damp_survey")) == "booked"


def test_small_talk_between_misunderstandings_does_not_hold_back_the_menu(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    turn(frozen, "gud", "action_fallback")
    turn(frozen, "hiya", "action_greet")
    assert "1. Confirm my visit" in turn(frozen, "???", "action_fallback")


@pytest.mark.parametrize("choice", ["the 3pm one", "second one please", "2"])
def test_an_offered_slot_can_be_picked_by_number_or_in_words(frozen, choice):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    offer = turn(frozen, "can you do thursday after 2", "action_rebook")
    assert "2. Thu 16 May, 15:00-16:00" in offer, offer
    check = turn(frozen, choice, "action_affirm" if "please" in choice else "action_fallback")
    assert check.startswith("Just to check: move your gas safety check to Thu 16 May, 15:00-16:00"), check


def test_a_question_asked_by_sms_can_be_answered_on_whatsapp(frozen):
    tenant = create_tenant(frozen, whatsapp=True)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    turn(frozen, "I need to cancel my gas safety check", "action_cancel")
    answer = turn(frozen, "yes", "action_affirm", phone="whatsapp:+447700900123")
    assert "is cancelled" in answer
    assert get_visit(frozen, visit.id).status == "cancelled"
    # The question is answered everywhere: a later "yes" by SMS starts afresh.
    assert "no visits booked" in turn(frozen, "yes", "action_affirm")


def test_a_question_about_a_visit_changed_since_is_never_acted_on(frozen):
    tenant = create_tenant(frozen, whatsapp=True)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    turn(frozen, "cancel it", "action_cancel")  # SMS: "cancel your visit? Reply YES"
    turn(frozen, "can you do thursday morning", "action_rebook", phone="whatsapp:+447700900123")
    turn(frozen, "1", "action_fallback", phone="whatsapp:+447700900123")
    turn(frozen, "yes", "action_affirm", phone="whatsapp:+447700900123")  # moved to Thursday
    moved = get_visit(frozen, visit.id)
    assert moved.status == "confirmed"
    # The old SMS question was about the Tuesday slot: a "yes" there must not cancel the new one.
    reply = turn(frozen, "yes", "action_affirm")
    assert get_visit(frozen, visit.id).status == "confirmed"
    assert "cancelled" not in reply


def test_picking_an_offered_slot_after_the_visit_was_cancelled_elsewhere_moves_nothing(frozen):
    tenant = create_tenant(frozen, whatsapp=True)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    assert "I can offer these times" in turn(frozen, "can you do thursday afternoon instead?", "action_rebook")
    turn(frozen, "I want to cancel", "action_cancel", phone="whatsapp:+447700900123")
    turn(frozen, "yes", "action_affirm", phone="whatsapp:+447700900123")
    reply = turn(frozen, "1", "action_fallback")
    assert "Just to check: move" not in reply
    assert get_visit(frozen, visit.id).status == "cancelled"


def test_bank_holidays_are_never_offered(frozen):
    christmas_week = london(2024, 12, 23, 9)  # Monday before Christmas
    frozen.clock = lambda: christmas_week
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 12, 24, 10), now=christmas_week)
    offer = turn(frozen, "can you do the 25th or 26th instead", "action_rebook")
    assert "25 Dec" not in offer and "26 Dec" not in offer
    assert "I can offer these times" in offer


def test_thanks_in_answer_to_a_confirmation_request_is_checked_not_taken_as_yes(frozen):
    from service.reminders import send_due_reminders

    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 20, 10), now=NOW - timedelta(days=3))
    send_due_reminders(frozen, london(2024, 5, 13, 11))
    assert turn(frozen, "ok thanks", "action_thanks").startswith("Just to check, is that a yes")
    assert get_visit(frozen, visit.id).status == "booked"
    assert "is confirmed" in turn(frozen, "yes", "action_affirm")


def test_a_time_already_past_today_still_picks_the_offered_slot_on_a_later_day(frozen):
    afternoon = london(2024, 5, 13, 16, 0)  # 4pm Monday: "2pm" today has gone
    frozen.clock = lambda: afternoon
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=afternoon)
    assert "Thu 16 May, 14:00-15:00" in turn(frozen, "can you do thursday afternoon instead?", "action_rebook")
    check = turn(frozen, "the 2pm one", "action_rebook")
    assert check.startswith("Just to check: move your gas safety check to Thu 16 May, 14:00-15:00"), check


def test_a_time_offered_earlier_that_has_since_passed_is_never_booked(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 20, 10), now=NOW)
    assert "Tue 14 May" in turn(frozen, "can you do tuesday morning instead?", "action_rebook")

    frozen.clock = lambda: london(2024, 5, 15, 9)  # the tenant answers the next day
    reply = turn(frozen, "1", "action_fallback")
    assert reply.startswith("Sorry, that time has passed. Here are the next free times:")
    assert "Tue 14 May" not in reply and "1. " in reply
    assert get_visit(frozen, visit.id).slot_start == london(2024, 5, 20, 10)

    assert turn(frozen, "1", "action_fallback").startswith("Just to check: move your gas safety check to")
    frozen.clock = lambda: london(2024, 5, 25, 9)  # and says yes days later
    assert turn(frozen, "yes", "action_affirm").startswith("Sorry, that time has passed.")
    assert get_visit(frozen, visit.id).slot_start == london(2024, 5, 20, 10)


def test_reply_3_to_speak_to_someone_reaches_a_person(frozen):
    create_tenant(frozen)
    assert turn(frozen, "what's the weather like", "action_out_of_scope").endswith("Reply 3 to speak to someone.")
    assert turn(frozen, "3", "action_fallback").startswith("I have asked a member of our team to contact you.")
    with transaction(frozen.sessions) as session:
        assert session.scalars(select(OfficerTask.kind)).all() == ["handoff"]


def test_with_no_visits_reply_3_reaches_a_person_and_1_does_not_pretend_to_confirm(frozen):
    create_tenant(frozen)
    assert turn(frozen, "yes", "action_affirm").startswith("You have no visits booked with us at the moment.")
    assert "I have asked a member of our team" not in turn(frozen, "1", "action_fallback")
    turn(frozen, "when is it", "action_answer_question")
    assert turn(frozen, "3", "action_fallback").startswith("I have asked a member of our team to contact you.")


def test_an_off_topic_text_while_times_are_offered_keeps_the_list_and_its_numbers(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 20, 10), now=NOW)
    offer = turn(frozen, "can you do thursday afternoon instead?", "action_rebook")
    third = next(line for line in offer.splitlines() if line.startswith("3. "))[3:]
    reply = turn(frozen, "what's the weather like", "action_out_of_scope")
    assert "Reply 3 to speak to someone" not in reply
    assert (
        turn(frozen, "3", "action_fallback")
        == f"Just to check: move your gas safety check to {third}? Reply YES to confirm."
    )
    assert get_visit(frozen, visit.id).slot_start == london(2024, 5, 20, 10)


@pytest.mark.parametrize("digit", ["٢", "۲", "২", "૨", "੨"])
def test_a_choice_in_any_scripts_digits_picks_that_option(frozen, digit):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 20, 10), now=NOW)
    offer = turn(frozen, "can you do thursday afternoon instead?", "action_rebook")
    second = next(line for line in offer.splitlines() if line.startswith("2. "))[3:]
    assert turn(frozen, digit, "action_fallback").startswith(f"Just to check: move your gas safety check to {second}?")


def test_the_visits_own_time_is_never_offered_as_a_new_one(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 16, 13), now=NOW)
    offer = turn(frozen, "can you do Thursday afternoon instead?", "action_rebook")
    assert "Thu 16 May" in offer and "13:00-14:00" not in offer
    assert get_visit(frozen, visit.id).slot_start == london(2024, 5, 16, 13)


@pytest.mark.parametrize("said", ["I can't do Monday, I'm at work", "not monday", "nie mogę w poniedziałek"])
def test_a_day_the_tenant_cannot_do_is_never_offered(frozen, said):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 20, 10), now=NOW)  # next Monday
    offer = turn(frozen, said, "action_rebook")
    assert "I can offer these times for your gas safety check:" in offer
    assert "Mon 20 May" not in offer
    assert "Tue 21 May" in offer  # the nearest days after the one ruled out
    assert get_visit(frozen, visit.id).slot_start == london(2024, 5, 20, 10)


@pytest.mark.parametrize("said", ["please stop sending reminders at night", "stop texting me before 9am"])
def test_stop_with_a_time_of_day_asks_for_other_times_and_keeps_texts_coming(frozen, said):
    tenant = create_tenant(frozen)
    reply = turn(frozen, said, "action_stop")
    assert reply.startswith("I have asked a member of our team to contact you.")
    with transaction(frozen.sessions) as session:
        assert session.get(Tenant, tenant.id).sms_opted_out is False
        assert session.scalars(select(OfficerTask.kind)).all() == ["contact_times"]


def test_stop_on_its_own_words_still_opts_out(frozen):
    tenant = create_tenant(frozen)
    assert turn(frozen, "stop texting me", "action_stop").startswith("You will not get any more texts from us.")
    with transaction(frozen.sessions) as session:
        assert session.get(Tenant, tenant.id).sms_opted_out is True


def test_a_visit_later_today_is_confirmed_without_promising_a_reminder(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 13, 15), now=NOW)  # this afternoon: every reminder has passed
    turn(frozen, "yes", "action_affirm")
    reply = turn(frozen, "yes", "action_affirm")
    assert reply.startswith("Thank you, your gas safety check on Mon 13 May, 15:00-16:00 is confirmed.")
    assert "remind" not in reply


def test_a_move_to_later_today_promises_no_reminder(frozen):
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 20, 10), now=NOW)
    assert "Mon 13 May" in turn(frozen, "can you come this afternoon instead?", "action_rebook")
    turn(frozen, "1", "action_fallback")
    reply = turn(frozen, "yes", "action_affirm")
    assert reply.startswith("Done. Your gas safety check is now on Mon 13 May")
    assert "reminder" not in reply


def test_an_off_topic_text_keeps_the_cancel_question_open_and_3_still_reaches_a_person(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 20, 10), now=NOW)
    assert "Reply YES to cancel it" in turn(frozen, "I need to cancel my gas check", "action_cancel")
    assert turn(frozen, "what's the football score tonight?", "action_out_of_scope").endswith(
        "Reply 3 to speak to someone."
    )
    assert turn(frozen, "yes", "action_affirm").startswith("Your gas safety check")
    assert get_visit(frozen, visit.id).status == "cancelled"

    other = create_tenant(frozen, phone="+447700900456", name="Dylan Price")
    create_visit(frozen, other, london(2024, 5, 21, 10), now=NOW)
    turn(frozen, "cancel it", "action_cancel", phone="+447700900456")
    turn(frozen, "how do I pay my rent?", "action_out_of_scope", phone="+447700900456")
    assert turn(frozen, "3", "action_fallback", phone="+447700900456").startswith("I have asked a member of our team")


def test_stop_with_a_date_but_no_time_of_day_still_opts_out(frozen):
    tenant = create_tenant(frozen)
    turn(frozen, "stop texting me, I'll call you tomorrow", "action_stop")
    with transaction(frozen.sessions) as session:
        assert session.get(Tenant, tenant.id).sms_opted_out is True


def test_a_time_offered_earlier_that_is_now_too_close_to_reach_is_not_booked(frozen):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 20, 10), now=NOW)
    offer = turn(frozen, "can you do tuesday morning instead?", "action_rebook")
    first = next(line for line in offer.splitlines() if line.startswith("1. "))
    assert "Tue 14 May, 08:00" in first

    frozen.clock = lambda: london(2024, 5, 14, 7, 30)  # half an hour before it
    reply = turn(frozen, "1", "action_fallback")
    assert reply.startswith("Sorry, that time is now too soon for us to get to you. Here are the next free times:")
    assert get_visit(frozen, visit.id).slot_start == london(2024, 5, 20, 10)
