"""No-access cases: the policy through its stages, the tenant's follow-ups, cases, and the evidence record.

The clock is frozen around a gas safety check on Tue 14 May 2024, 10:00-11:00
London time, and later visits of the same kind a week apart. Operatives report
through the real API with a real key; texts land in the simulator; the tenant's
replies run the dialogue the way the action server does.
"""

import csv
import io
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service import adjustments, api_keys, evidence, evidence_pdf, i18n, messaging, missed_visits, no_access
from service.console import audit
from service.visits import record
from store.db import transaction
from store.models import AccessAttempt, AccessCase, Message, Officer, OfficerTask, Reminder, Tenant, Visit, VisitEvent
from tests.console_factories import create_officer
from tests.factories import SENDER, create_operative, create_tenant, create_visit, get_visit, london, new_sid, sent_to

PHONE = "+447700900123"
SLOT = london(2024, 5, 14, 10, 0)  # Tuesday
WEEK = timedelta(days=7)


@pytest.fixture
def frozen(runtime):
    runtime.clock = lambda: SLOT - timedelta(days=10)
    create_operative(runtime)
    return runtime


@pytest.fixture
def key(frozen):
    with transaction(frozen.sessions) as session:
        return api_keys.create_key(session, "Van7", ["operative_status"])


@pytest.fixture
def tenant(frozen):
    return create_tenant(frozen)


def at(runtime, moment):
    runtime.clock = lambda: moment


def notified_visit(
    runtime, tenant, start, reference, confirmed=True, notice_days=7, notice_status="delivered", **details
):
    """A visit booked two weeks ahead, confirmed by the tenant, with a reminder sent `notice_days` before it."""
    visit = create_visit(runtime, tenant, start, reference=reference, now=start - timedelta(days=14), **details)
    if confirmed:
        with transaction(runtime.sessions) as session:
            booked = session.get(Visit, visit.id)
            booked.status = "confirmed"
            record(session, booked, "confirmed", "tenant", at=start - timedelta(days=10))
    if notice_days is not None:
        send_notice(runtime, visit, start - timedelta(days=notice_days), notice_status)
    return visit


def send_notice(runtime, visit, sent_at, status="delivered", kind="seven_days"):
    """A reminder as the reminders run leaves it once Twilio has reported on it."""
    with transaction(runtime.sessions) as session:
        conversation = messaging.conversation_for(session, PHONE, "sms")
        message = messaging.outbound(
            conversation,
            "Hello Amara, your gas safety check is on Tue 14 May, 10:00-11:00. Reply YES to confirm.",
            visit_id=visit.id,
            template_key=f"reminder.{kind}",
            raw={"text_key": "reminder", "variables": {}},
            created_at=sent_at,
        )
        message.status, message.state, message.twilio_sid = status, "handed_over", new_sid()
        session.add(message)
        session.flush()
        reminder = session.scalar(select(Reminder).where(Reminder.visit_id == visit.id, Reminder.kind == kind))
        reminder.status, reminder.sent_at, reminder.message_id = "sent", sent_at, message.id


def no_access_report(client, key, reference, **extra):
    body = {"status": "no_access", **extra}
    answer = client.post(f"/api/v1/visits/{reference}/status", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def attempt_at(runtime, client, key, visit, minutes=20, **extra):
    """The operative at the door `minutes` into the slot, and nobody in."""
    at(runtime, visit.slot_start + timedelta(minutes=minutes))
    no_access_report(client, key, visit.reference, **extra)
    with transaction(runtime.sessions) as session:
        return session.scalar(select(AccessAttempt).where(AccessAttempt.visit_id == visit.id))


def texts_to(simulator, phone=PHONE) -> list[str]:
    return [message["body"] for message in sent_to(simulator, phone)]


def tasks(runtime) -> list[str]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(OfficerTask.kind).order_by(OfficerTask.id)))


def cases(runtime) -> list[AccessCase]:
    with transaction(runtime.sessions) as session:
        found = list(session.scalars(select(AccessCase).order_by(AccessCase.id)))
        for case in found:
            list(case.attempts)
        return found


def turn(runtime, text, action, intent=None):
    message, _ = messaging.store_inbound(runtime, {"From": PHONE, "To": SENDER, "Body": text, "MessageSid": new_sid()})
    assert messaging.answer_turn(
        runtime, message.conversation_id, message.id, action, intent or action.removeprefix("action_"), 0.95
    )
    with transaction(runtime.sessions) as session:
        return "\n".join(session.scalars(select(Message.body).where(Message.reply_to_id == message.id)).all())


# The policy, attempt by attempt.


def test_a_first_counted_attempt_gets_a_friendly_follow_up_and_a_new_time_is_one_reply_away(
    frozen, client, key, tenant, simulator
):
    visit = notified_visit(frozen, tenant, SLOT, "GAS-1001")
    attempt = attempt_at(frozen, client, key, visit, note="Knocked twice, no answer", card_left=True, photo_ref="P-77")

    assert (attempt.counted, attempt.number, attempt.stage, attempt.case_id) == (True, 1, "friendly", None)
    assert (attempt.prebooked, attempt.notified_in_writing, attempt.follow_up_status) == (True, True, "texted")
    assert (attempt.note, attempt.card_left, attempt.photo_ref) == ("Knocked twice, no answer", True, "P-77")
    assert attempt.reported_by == "operative:Van7"
    assert (
        "Agreed: confirmed by the tenant on Sat 04 May 2024, 10:00." in attempt.notice
        and "reminder (seven days) by sms, delivered" in attempt.notice
    )

    [text] = texts_to(simulator)
    assert text.startswith(
        "Hello Amara, sorry we missed you for your gas safety check on Tue 14 May, 10:00-11:00. "
        "We haven't been able to visit yet, so let's find a time that suits you better.\n"
        "I can offer these times for your gas safety check:\n1. "
    )
    assert "fail" not in text.lower()

    # The tenant picks a time: the same visit moves there and is booked again.
    assert turn(frozen, "1", "action_fallback").startswith("Just to check: move your gas safety check to")
    assert turn(frozen, "yes", "action_affirm").startswith("Done. Your gas safety check is now on")
    moved = get_visit(frozen, visit.id)
    assert moved.status == "confirmed" and moved.slot_start > SLOT
    assert [event.status for event in moved.history][-3:] == ["no_access", "moved", "confirmed"]


@pytest.mark.parametrize(
    "details, says",
    [
        ({"card_left": "yes"}, "card_left must be true or false"),
        ({"photo_ref": 7}, "photo_ref must be text"),
        ({"photo_ref": "x" * 501}, "photo_ref must be text of at most 500 characters"),
    ],
)
def test_a_no_access_report_with_details_we_cannot_use_is_refused(frozen, client, key, tenant, details, says):
    notified_visit(frozen, tenant, SLOT, "GAS-1001")
    at(frozen, SLOT + timedelta(minutes=20))
    body = {"status": "no_access", **details}
    answer = client.post("/api/v1/visits/GAS-1001/status", json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 400 and says in answer.get_json()["error"]
    with transaction(frozen.sessions) as session:
        assert session.scalars(select(AccessAttempt)).all() == []


def test_the_api_says_the_tenant_was_texted_after_a_failed_visit(frozen, client, key, tenant):
    notified_visit(frozen, tenant, SLOT, "GAS-1001")
    at(frozen, SLOT + timedelta(minutes=20))
    answer = no_access_report(client, key, "GAS-1001", card_left=False)
    assert (answer["status"], answer["tenant_texted"]) == ("no_access", True)


def test_no_to_the_times_offered_asks_what_would_suit_instead(frozen, client, key, tenant):
    visit = notified_visit(frozen, tenant, SLOT, "GAS-1001")
    attempt_at(frozen, client, key, visit)
    assert turn(frozen, "no", "action_deny") == i18n.render("ask_new_time", "en")
    assert "I can offer these times" in turn(frozen, "thursday afternoon", "action_rebook")


def test_the_policy_runs_through_its_stages_and_opens_a_case_at_the_third_attempt(
    frozen, client, key, tenant, simulator
):
    first = notified_visit(frozen, tenant, SLOT, "GAS-1001")
    second = notified_visit(frozen, tenant, SLOT + 2 * WEEK, "GAS-1002")
    third = notified_visit(frozen, tenant, SLOT + 4 * WEEK, "GAS-1003")
    fourth = notified_visit(frozen, tenant, SLOT + 6 * WEEK, "GAS-1004")

    one = attempt_at(frozen, client, key, first)
    two = attempt_at(frozen, client, key, second)
    assert [(a.number, a.stage, a.case_id) for a in (one, two)] == [(1, "friendly", None), (2, "firmer", None)]
    assert cases(frozen) == []
    firmer = texts_to(simulator)[-1]
    assert firmer.startswith(
        "Hello Amara, we still haven't been able to do your gas safety check, and it matters for your safety "
        "at home.\nA gas safety check makes sure your boiler"
    )
    assert "If anything makes visits hard for you, just tell us and we will help.\nI can offer these times" in firmer

    three = attempt_at(frozen, client, key, third)
    [case] = cases(frozen)
    assert (three.number, three.stage, three.case_id) == (3, "case", case.id)
    assert (case.tenant_id, case.visit_type, case.status) == (tenant.id, "gas_safety_check", "open")
    assert case.opened_at == third.slot_start + timedelta(minutes=20)
    assert [a.number for a in case.attempts] == [1, 2, 3]
    assert texts_to(simulator)[-1].startswith(
        "Hello Amara, we still haven't been able to do your gas safety check. It is important, so someone from "
        "our team will contact you to find a way that works for you.\nI can offer these times"
    )

    # Later attempts join the open case; the last stage listed covers them.
    four = attempt_at(frozen, client, key, fourth)
    assert (four.number, four.stage, four.case_id) == (4, "case", case.id)
    assert len(cases(frozen)) == 1
    assert all("fail" not in text.lower() for text in texts_to(simulator))


def test_attempts_at_another_visit_type_are_counted_apart(frozen, client, key, tenant):
    attempt_at(frozen, client, key, notified_visit(frozen, tenant, SLOT, "GAS-1001"))
    repair = notified_visit(frozen, tenant, SLOT + WEEK, "REP-1", visit_type="repair")
    assert attempt_at(frozen, client, key, repair).number == 1


def test_an_attempt_nobody_was_told_about_does_not_count_but_the_tenant_can_still_rebook(
    frozen, client, key, tenant, simulator
):
    visit = notified_visit(frozen, tenant, SLOT, "GAS-1001", confirmed=False, notice_days=None)
    attempt = attempt_at(frozen, client, key, visit)
    assert (attempt.counted, attempt.prebooked, attempt.number, attempt.stage) == (False, False, None, "friendly")
    assert "Not agreed" in attempt.notice and "No notice was sent before the slot." in attempt.notice
    assert texts_to(simulator)[-1].startswith("Hello Amara, sorry we missed you")

    # The next, notified attempt is the first that counts.
    later = notified_visit(frozen, tenant, SLOT + 2 * WEEK, "GAS-1002")
    assert attempt_at(frozen, client, key, later).number == 1


def test_notice_too_late_or_undelivered_is_not_notice_in_writing(frozen, client, key, tenant):
    late = attempt_at(frozen, client, key, notified_visit(frozen, tenant, SLOT, "GAS-1001", notice_days=1))
    assert (late.prebooked, late.notified_in_writing, late.counted) == (True, False, False)
    assert "Written notice at least 2 days before: no." in late.notice

    lost = notified_visit(frozen, tenant, SLOT + WEEK, "GAS-1002", confirmed=False, notice_status="undelivered")
    attempt = attempt_at(frozen, client, key, lost)
    assert (attempt.prebooked, attempt.counted) == (False, False)


def test_what_counts_is_configuration(frozen, client, key, tenant, monkeypatch):
    monkeypatch.setitem(
        frozen.settings.raw,
        "no_access_policy",
        {
            "case_after_attempts": 3,
            "case_after_attempts_by_visit_type": {"gas_safety_check": 1},
            "counting": {"require_written_notice": False},
            "follow_ups": {1: "firmer"},
        },
    )
    attempt = attempt_at(frozen, client, key, notified_visit(frozen, tenant, SLOT, "GAS-1001", notice_days=1))
    assert (attempt.counted, attempt.stage) == (True, "firmer")
    assert len(cases(frozen)) == 1, "gas goes to the specialist team at the first counted attempt"

    monkeypatch.setitem(frozen.settings.raw, "no_access_policy", {"follow_ups": {1: "stern"}})
    with pytest.raises(no_access.PolicyError, match="stern"):
        no_access.policy(frozen.settings)


def test_a_letter_an_officer_recorded_is_notice_in_writing(frozen, client, key, tenant):
    visit = notified_visit(frozen, tenant, SLOT, "GAS-1001", notice_days=None)
    with transaction(frozen.sessions) as session:
        no_access.record_letter(session, session.get(Visit, visit.id), "officer:1", SLOT - WEEK, "First-class post")
    attempt = attempt_at(frozen, client, key, visit)
    assert (attempt.counted, attempt.notified_in_writing) == (True, True)
    assert "letter recorded by an officer (officer:1)" in attempt.notice


def test_a_notice_about_the_old_slot_is_not_notice_of_the_new_one(frozen, client, key, tenant):
    visit = notified_visit(frozen, tenant, SLOT, "GAS-1001", confirmed=False)
    with transaction(frozen.sessions) as session:
        # Moved by the booking system a day before, unconfirmed since: the reminder named the old slot.
        moved = session.get(Visit, visit.id)
        moved.slot_start, moved.slot_end = SLOT + timedelta(hours=3), SLOT + timedelta(hours=4)
        session.add(VisitEvent(visit_id=visit.id, status="moved", actor="system", at=SLOT - timedelta(days=1)))
    attempt = attempt_at(frozen, client, key, get_visit(frozen, visit.id))
    assert (attempt.prebooked, attempt.counted) == (False, False)


# Visits we missed are never attempts.


def test_a_visit_the_provider_missed_is_never_an_attempt(frozen, client, key, tenant):
    late = notified_visit(frozen, tenant, SLOT, "GAS-1001")
    at(frozen, SLOT + timedelta(hours=2, minutes=30))  # well after the slot
    no_access_report(client, key, "GAS-1001")
    assert missed_visits.sweep(frozen, frozen.clock()) == 1

    unreported = notified_visit(frozen, tenant, SLOT + WEEK, "GAS-1002")
    assert missed_visits.sweep(frozen, unreported.slot_end + timedelta(hours=2)) == 1

    with transaction(frozen.sessions) as session:
        assert session.scalars(select(AccessAttempt)).all() == []
    assert get_visit(frozen, late.id).missed_by_provider_at is not None
    # The next real attempt is the first one.
    assert attempt_at(frozen, client, key, notified_visit(frozen, tenant, SLOT + 2 * WEEK, "GAS-1003")).number == 1


# Closing a case.


def test_closing_a_case_needs_an_outcome_and_the_next_attempt_starts_again(frozen, client, key, tenant, monkeypatch):
    monkeypatch.setitem(frozen.settings.raw, "no_access_policy", {"case_after_attempts": 1})
    attempt_at(frozen, client, key, notified_visit(frozen, tenant, SLOT, "GAS-1001"))
    [case] = cases(frozen)

    with transaction(frozen.sessions) as session:
        with pytest.raises(no_access.OutcomeRequired):
            no_access.close_case(session, session.get(AccessCase, case.id), 1, "", "spoke to them", frozen.clock())
    with pytest.raises(IntegrityError):
        with transaction(frozen.sessions) as session:
            session.get(AccessCase, case.id).status = "closed"
    assert cases(frozen)[0].status == "open"

    officer = create_officer(frozen, role="specialist")
    with transaction(frozen.sessions) as session:
        no_access.close_case(session, session.get(AccessCase, case.id), officer.id, "access_gained", "", frozen.clock())
    closed = cases(frozen)[0]
    assert (closed.status, closed.outcome, closed.closed_by) == ("closed", "access_gained", officer.id)

    again = attempt_at(frozen, client, key, notified_visit(frozen, tenant, SLOT + 2 * WEEK, "GAS-1002"))
    assert again.number == 1 and again.case_id != case.id and len(cases(frozen)) == 2


# Who hears what.


def make_discreet(runtime, tenant_id, safe_hours=("08:00", "20:00")):
    with transaction(runtime.sessions) as session:
        adjustments.record(
            session,
            tenant_id,
            ["discreet"],
            "my partner reads my texts",
            recorded_by="officer:1",
            consent_how="told an officer by phone",
            now=SLOT - WEEK,
            settings={"channel": "sms", "safe_hours": list(safe_hours), "exit_word": "pineapple"},
        )


def test_a_discreet_tenant_hears_only_about_their_appointment(frozen, client, key, tenant, simulator):
    make_discreet(frozen, tenant.id)
    attempt_at(frozen, client, key, notified_visit(frozen, tenant, SLOT, "GAS-1001"))
    [text] = texts_to(simulator)
    assert text.startswith("Hello, sorry we missed you for your appointment on Tue 14 May, 10:00-11:00.")
    assert "I can offer these times for your appointment:" in text
    assert "gas" not in text.lower() and "Amara" not in text and "Larch" not in text


def test_a_discreet_tenants_follow_up_waits_for_their_safe_hours(frozen, client, key, tenant, simulator, live_app):
    make_discreet(frozen, tenant.id, safe_hours=("18:00", "20:00"))
    attempt = attempt_at(frozen, client, key, notified_visit(frozen, tenant, SLOT, "GAS-1001"))
    assert (attempt.follow_up_status, attempt.follow_up_due_at) == ("waiting", london(2024, 5, 14, 18, 0))
    assert texts_to(simulator) == []

    assert no_access.send_due_follow_ups(frozen, london(2024, 5, 14, 17, 59)) == 0
    result = live_app.test_cli_runner().invoke(args=["reminders", "--at", "2024-05-14 18:05"])
    assert "no-access follow-ups sent: 1" in result.output, result.output
    assert texts_to(simulator)[0].startswith("Hello, sorry we missed you for your appointment")
    assert no_access.send_due_follow_ups(frozen, london(2024, 5, 14, 18, 30)) == 0


def test_an_unchecked_number_or_an_opted_out_tenant_is_not_texted_and_an_officer_is_asked(
    frozen, client, key, simulator
):
    unchecked = create_tenant(frozen, verified=False)
    first = attempt_at(frozen, client, key, notified_visit(frozen, unchecked, SLOT, "GAS-1001"))
    assert first.follow_up_status == "not_texted" and "not yet checked" in first.follow_up_note

    opted_out = create_tenant(frozen, phone="+447700900456", name="Dylan Price")
    with transaction(frozen.sessions) as session:
        session.get(Tenant, opted_out.id).sms_opted_out = True
    second = attempt_at(frozen, client, key, notified_visit(frozen, opted_out, SLOT + WEEK, "GAS-1002"))
    assert second.follow_up_status == "not_texted" and "opted out" in second.follow_up_note

    assert sent_to(simulator, PHONE) == [] and sent_to(simulator, "+447700900456") == []
    assert tasks(frozen) == ["no_access_follow_up", "no_access_follow_up"]


# The evidence record.


def visit_with_a_history(runtime, client, key, tenant, simulator):
    """A visit booked, reminded, confirmed by text, a letter recorded, a need noted, then no access at the door."""
    visit = notified_visit(runtime, tenant, SLOT, "GAS-1001", confirmed=False, notice_days=None)
    officer = create_officer(runtime, role="specialist")
    with transaction(runtime.sessions) as session:
        booked = session.get(Visit, visit.id)
        booked.created_at = SLOT - timedelta(days=14)
        booked.history[0].at = SLOT - timedelta(days=14)
    send_notice(runtime, visit, SLOT - WEEK)
    with transaction(runtime.sessions) as session:
        reminder = session.scalar(select(Message).where(Message.visit_id == visit.id))
        reminder.twilio_sid, reminder.updated_at = "SM0000000000000000000000000000aaaa", SLOT - WEEK
        conversation = messaging.conversation_for(session, PHONE, "sms")
        reply = Message(
            direction="inbound",
            channel="sms",
            conversation_id=conversation.id,
            tenant_id=tenant.id,
            from_address=PHONE,
            to_address=SENDER,
            body="yes that's fine",
            twilio_sid="SM0000000000000000000000000000bbbb",
            status="received",
            state="answered",
            created_at=SLOT - timedelta(days=6),
        )
        session.add(reply)
        session.flush()
        confirmed = session.get(Visit, visit.id)
        confirmed.status = "confirmed"
        record(session, confirmed, "confirmed", "tenant", message_id=reply.id, at=SLOT - timedelta(days=6, minutes=-1))
        adjustments.record(
            session,
            tenant.id,
            ["no_calls"],
            "I'm deaf",
            recorded_by="assistant",
            consent_how="tenant agreed by text",
            now=SLOT - timedelta(days=8),
        )
        no_access.record_letter(session, confirmed, f"officer:{officer.id}", SLOT - timedelta(days=5), "First class")
        audit.record(
            session,
            officer.id,
            "recorded_letter",
            SLOT - timedelta(days=5),
            visit_id=visit.id,
            tenant_id=tenant.id,
            detail={"sent_on": "2024-05-09"},
        )
    attempt_at(runtime, client, key, visit, note="Knocked twice, card left", card_left=True, photo_ref="P-77")
    simulator.state.wait_for_callbacks()
    return visit


def test_the_csv_export_is_the_stored_history_line_by_line_in_order(frozen, client, key, tenant, simulator):
    visit = visit_with_a_history(frozen, client, key, tenant, simulator)
    with transaction(frozen.sessions) as session:
        record_ = evidence.for_visit(session, session.get(Visit, visit.id), frozen.clock())
        reminder, reply, follow_up = session.scalars(select(Message).order_by(Message.id)).all()
        attempt = session.scalar(select(AccessAttempt))
    lines = list(csv.reader(io.StringIO(evidence.to_csv(record_), newline="")))

    notice = attempt.notice
    assert notice == (
        "Agreed: confirmed by the tenant on Wed 08 May 2024, 10:01. "
        "Notice: reminder (seven days) by sms, delivered, Tue 07 May 2024, 10:00. "
        "Notice: letter recorded by an officer (officer:1), Thu 09 May 2024, 10:00. "
        "Written notice at least 2 days before: yes."
    ).replace("officer:1", f"officer:{frozen_officer_id(frozen)}")
    follow_up_detail = f"message {follow_up.id}; Twilio {follow_up.twilio_sid}; status as of " + evidence.utc(
        follow_up.updated_at
    )
    assert lines == [
        ["at_utc", "at_london", "what", "visit", "by", "channel", "delivery_status", "text", "detail"],
        ["2024-04-30 09:00:00 UTC", "2024-04-30 10:00:00 BST", "Visit event", "GAS-1001", "booking system", "", "",
         "Booked", ""],
        ["2024-05-06 09:00:00 UTC", "2024-05-06 10:00:00 BST", "Need recorded", "", "assistant", "", "", "No calls",
         "consent: tenant agreed by text at 2024-05-06 09:00:00 UTC"],
        ["2024-05-07 09:00:00 UTC", "2024-05-07 10:00:00 BST", "Message to tenant", "GAS-1001",
         "assistant (seven days reminder)", "sms", "delivered", reminder.body,
         f"message {reminder.id}; Twilio SM0000000000000000000000000000aaaa"],
        ["2024-05-08 09:00:00 UTC", "2024-05-08 10:00:00 BST", "Message from tenant", "", "tenant", "sms", "received",
         "yes that's fine", f"message {reply.id}; Twilio SM0000000000000000000000000000bbbb"],
        ["2024-05-08 09:01:00 UTC", "2024-05-08 10:01:00 BST", "Visit event", "GAS-1001", "tenant", "", "", "Confirmed",
         f"in answer to message {reply.id}"],
        ["2024-05-09 09:00:00 UTC", "2024-05-09 10:00:00 BST", "Visit event", "GAS-1001", "Sam Patel (specialist)", "",
         "", "Letter sent to the tenant: First class", "about the slot starting 2024-05-14 10:00:00 BST (London)"],
        ["2024-05-09 09:00:00 UTC", "2024-05-09 10:00:00 BST", "Officer action", "GAS-1001", "Sam Patel (specialist)",
         "", "", "Recorded letter", "sent_on: 2024-05-09"],
        ["2024-05-14 09:20:00 UTC", "2024-05-14 10:20:00 BST", "Visit event", "GAS-1001", "operative:Van7", "", "",
         "No access: the operative could not get in: Knocked twice, card left", ""],
        ["2024-05-14 09:20:00 UTC", "2024-05-14 10:20:00 BST", "Access attempt", "GAS-1001", "operative:Van7", "", "",
         "Knocked twice, card left",
         "Counted as attempt 1; slot 2024-05-14 10:00:00 BST to 2024-05-14 11:00:00 BST (London); card left: yes; "
         f"photo: P-77; pre-booked: yes; notified in writing: yes; follow-up: friendly (texted). {notice}"],
        ["2024-05-14 09:20:00 UTC", "2024-05-14 10:20:00 BST", "Message to tenant", "GAS-1001",
         "assistant (no-access follow-up, friendly)", "sms", "delivered", follow_up.body, follow_up_detail],
    ]  # fmt: skip
    assert follow_up.body.startswith("Hello Amara, sorry we missed you")
    assert "I'm deaf" not in evidence.to_csv(record_), "a need's own words stay out of the export"


def frozen_officer_id(runtime) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(Officer.id))


def test_the_pdf_export_parses_and_names_the_visit_and_the_tenant(frozen, client, key, tenant, simulator):
    visit = visit_with_a_history(frozen, client, key, tenant, simulator)
    with transaction(frozen.sessions) as session:
        body = evidence_pdf.to_pdf(evidence.for_visit(session, session.get(Visit, visit.id), frozen.clock()))
    assert body.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    assert "Evidence record for visit GAS-1001" in text and "Amara Okafor" in text
    assert "Knocked twice, card left" in text and "2024-05-14 09:20:00 UTC" in text


def test_the_pdf_draws_other_scripts_or_says_where_the_exact_words_are(frozen, client, key, simulator):
    tenant = create_tenant(frozen, name="Оксана Бондар", language="uk")
    visit = notified_visit(frozen, tenant, SLOT, "GAS-2001")
    with transaction(frozen.sessions) as session:
        conversation = messaging.conversation_for(session, PHONE, "sms")
        for body in ("Добре, дякую", "আমি বাড়িতে থাকব"):
            message = messaging.outbound(conversation, body, visit_id=visit.id, created_at=SLOT - WEEK)
            session.add(message)
        record_ = evidence.for_visit(session, session.get(Visit, visit.id), frozen.clock())
    text = PdfReader(io.BytesIO(evidence_pdf.to_pdf(record_))).pages[0].extract_text()
    if evidence_pdf._find(("DejaVuSans.ttf",)) is None:
        pytest.skip("no DejaVu font on this machine")
    assert "Оксана Бондар" in text and "Добре, дякую" in text
    if not evidence_pdf._find(("NotoSansBengali-Regular.ttf",)):
        assert "[Bengali text]" in text


def test_the_export_command_writes_a_visits_or_a_cases_record(
    frozen, client, key, tenant, simulator, live_app, tmp_path
):
    visit_with_a_history(frozen, client, key, tenant, simulator)
    runner = live_app.test_cli_runner()

    csv_file = tmp_path / "visit.csv"
    result = runner.invoke(args=["export-evidence", "--visit", "GAS-1001", "--format", "csv", "--out", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "Evidence record for visit GAS-1001: 10 lines written" in result.output
    assert csv_file.read_text(encoding="utf-8-sig").startswith("at_utc,at_london,what,visit,by")

    case_id = case_for_the_attempts(frozen)
    pdf_file = tmp_path / "case.pdf"
    args = ["export-evidence", "--case", str(case_id), "--format", "pdf", "--out", str(pdf_file)]
    assert runner.invoke(args=args).exit_code == 0
    assert pdf_file.read_bytes().startswith(b"%PDF")

    missing = runner.invoke(args=["export-evidence", "--visit", "NOPE", "--format", "csv", "--out", str(csv_file)])
    assert missing.exit_code != 0 and "no visit has the reference NOPE" in missing.output
    both = runner.invoke(args=["export-evidence", "--format", "csv", "--out", str(csv_file)])
    assert both.exit_code != 0 and "either --visit REF or --case ID" in both.output


def case_for_the_attempts(runtime) -> int:
    """A case for the visit's tenant, opened as the policy opens one, holding its attempts."""
    with transaction(runtime.sessions) as session:
        visit = session.scalar(select(Visit))
        case = no_access._open_case(session, visit, runtime.clock())
        for attempt in session.scalars(select(AccessAttempt)):
            attempt.case_id = case.id
        return case.id
