"""Make every visit count: other work pending at a home, offered in one visit, and what operatives notice.

The dialogue tests move a visit the way a tenant does ("thursday afternoon",
"1", "yes") and check the offer that follows; the API tests check every request
and answer against the OpenAPI document, as tests/test_hms_api.py does.
"""

import pytest
from openapi_core import OpenAPI
from sqlalchemy import select

from service import adjustments, dialogue, messaging
from store.db import transaction
from store.models import Job, Message, OfficerTask, Operative, Property, Reminder, Tenant, Visit
from tests.factories import (
    SENDER,
    booking_notice_sent,
    create_operative,
    create_tenant,
    create_visit,
    get_visit,
    london,
    new_sid,
)
from tests.test_hms_api import ENGINEER, HOME, TENANT, VISIT, Api, make_key

NOW = london(2024, 5, 13, 10, 0)  # Monday
GAS_ONLY = ("gas",)


@pytest.fixture
def frozen(runtime):
    runtime.clock = lambda: NOW
    return runtime


def turn(runtime, text, action, confidence=0.95, phone="+447700900123"):
    message, _ = messaging.store_inbound(runtime, {"From": phone, "To": SENDER, "Body": text, "MessageSid": new_sid()})
    handled = messaging.answer_turn(
        runtime, message.conversation_id, message.id, action, action.removeprefix("action_"), confidence
    )
    assert handled
    with transaction(runtime.sessions) as session:
        return "\n".join(session.scalars(select(Message.body).where(Message.reply_to_id == message.id)).all())


def add_job(runtime, tenant, kind="electrical_check", reference="EICR-1", status="open"):
    with transaction(runtime.sessions) as session:
        home = session.scalar(select(Property).where(Property.tenant_id == tenant.id))
        session.add(Job(reference=reference, property_id=home.id, kind=kind, status=status, source="hms"))


def job(runtime, reference="EICR-1") -> Job:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(Job).where(Job.reference == reference))


def move_to_thursday(runtime, choice="1") -> str:
    """The tenant moves their visit to Thursday afternoon (slots from 12:00) and says yes to the slot."""
    assert "I can offer these times" in turn(runtime, "can you do Thursday afternoon instead?", "action_rebook")
    assert turn(runtime, choice, "action_fallback").startswith("Just to check: move")
    return turn(runtime, "yes", "action_affirm")


# The combined offer.


def test_after_a_move_other_work_at_the_home_is_offered_in_the_same_visit(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant)

    reply = move_to_thursday(frozen)
    assert reply.startswith("Done. Your gas safety check is now on Thu 16 May, 12:00-13:00")
    assert (
        "While we are there, we can also do your electrical safety check in the same visit, so you have one visit "
        "instead of two. Reply YES to add it, or NO to keep them separate." in reply
    )
    # Nothing changes on the offer alone.
    assert get_visit(frozen, visit.id).slot_end == london(2024, 5, 16, 13)
    assert job(frozen).status == "open"


def test_yes_books_the_job_into_the_visit_extends_it_and_replans_its_reminders(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant)
    move_to_thursday(frozen)

    reply = turn(frozen, "yes", "action_affirm")
    assert reply.startswith("Done. We will also do your electrical safety check in the same visit, now Thu 16 May")
    combined = get_visit(frozen, visit.id)
    # An hour of gas check and four of electrical check, from 12:00.
    assert (combined.slot_start, combined.slot_end) == (london(2024, 5, 16, 12), london(2024, 5, 16, 17))
    assert [event.status for event in combined.history][-1] == "combined"
    assert "EICR-1" in combined.history[-1].note
    booked = job(frozen)
    assert (booked.status, booked.visit_id) == ("booked", visit.id)
    with transaction(frozen.sessions) as session:
        pending = list(session.scalars(select(Reminder).where(Reminder.status == "pending")))
    # The plan follows the visit as it now stands, in the same transaction as the change.
    assert {r.kind for r in pending} == {"two_days", "evening_before"}
    assert all(r.due_at < combined.slot_start for r in pending)


def test_no_keeps_them_separate_and_changes_nothing(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant)
    move_to_thursday(frozen)

    assert turn(frozen, "no", "action_deny") == "No problem, we will keep them separate."
    kept = get_visit(frozen, visit.id)
    assert kept.slot_end == london(2024, 5, 16, 13) and kept.status == "confirmed"
    assert "combined" not in [event.status for event in kept.history]
    assert job(frozen).status == "open"


def test_a_doubtful_yes_is_asked_again_and_changes_nothing(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant)
    move_to_thursday(frozen)

    assert turn(frozen, "ok 👍", "action_affirm", confidence=0.55).startswith("Just to check: reply YES")
    assert get_visit(frozen, visit.id).slot_end == london(2024, 5, 16, 13)
    assert turn(frozen, "yes", "action_affirm").startswith("Done. We will also do")


def test_no_offer_when_nothing_is_pending_at_the_home(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant, reference="DONE-1", status="done")
    add_job(frozen, tenant, kind="gas_safety_check", reference="GAS-JOB")  # the visit's own kind of work

    reply = move_to_thursday(frozen)
    assert reply.startswith("Done. Your gas safety check is now on Thu 16 May")
    assert "While we are there" not in reply


def test_no_offer_when_the_combined_visit_would_not_fit_the_working_day(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant)

    reply = move_to_thursday(frozen, choice="3")  # 14:00: four more hours run past 17:00
    assert "Done. Your gas safety check is now on Thu 16 May, 14:00-15:00" in reply
    assert "While we are there" not in reply


def test_no_offer_when_the_operative_is_busy_for_the_combined_length(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    neighbour = create_tenant(frozen, phone="+447700900456", name="Dylan Price")
    create_visit(frozen, neighbour, london(2024, 5, 16, 15), now=NOW)  # 15:00-16:00 on Thursday
    add_job(frozen, tenant)

    reply = move_to_thursday(frozen)
    assert "Done. Your gas safety check is now on Thu 16 May, 12:00-13:00" in reply
    assert "While we are there" not in reply


def test_the_combined_visit_goes_to_an_operative_with_every_skill(frozen):
    create_operative(frozen, name="Gary Gas", skills=GAS_ONLY)
    create_operative(frozen, name="Elin Evans", skills=("gas", "electrical"))
    tenant = create_tenant(frozen)
    with transaction(frozen.sessions) as session:
        gas_only = session.scalar(select(Operative).where(Operative.name == "Gary Gas"))
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), operative=gas_only, now=NOW)
    add_job(frozen, tenant)
    move_to_thursday(frozen)

    turn(frozen, "yes", "action_affirm")
    combined = get_visit(frozen, visit.id)
    with transaction(frozen.sessions) as session:
        assert session.get(Operative, combined.operative_id).name == "Elin Evans"
    assert combined.slot_end == london(2024, 5, 16, 17)


def test_no_offer_when_nobody_has_every_skill(frozen):
    create_operative(frozen, name="Gary Gas", skills=GAS_ONLY)
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant)

    assert "While we are there" not in move_to_thursday(frozen)


def test_a_yes_after_the_time_was_taken_keeps_them_separate(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant)
    move_to_thursday(frozen)
    neighbour = create_tenant(frozen, phone="+447700900456", name="Dylan Price")
    create_visit(frozen, neighbour, london(2024, 5, 16, 14), now=NOW)  # booked between the offer and the yes

    reply = turn(frozen, "yes", "action_affirm")
    assert reply.startswith("Sorry, that time is no longer free for both")
    assert get_visit(frozen, visit.id).slot_end == london(2024, 5, 16, 13)
    assert job(frozen).status == "open"


def test_discreet_contact_hears_of_another_check_without_its_name(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    with transaction(frozen.sessions) as session:
        adjustments.record(
            session,
            tenant.id,
            ["discreet"],
            "my partner reads my texts",
            recorded_by="officer:1",
            consent_how="told an officer by phone",
            now=NOW,
            settings={"channel": "sms", "exit_word": "pineapple"},
        )
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant)

    offer = move_to_thursday(frozen)
    assert "we can also do another check in the same visit" in offer
    assert "electrical" not in offer.lower()
    done = turn(frozen, "yes", "action_affirm")
    assert done.startswith("Done. We will do both in the same appointment")
    assert "electrical" not in done.lower()


# The HMS's jobs.


@pytest.fixture
def api(live_app, frozen):
    client = live_app.test_client()
    contract = OpenAPI.from_dict(client.get("/api/v1/openapi.json").get_json())
    keys = {
        "write": make_key(frozen, "Scheduler", "hms_write"),
        "read": make_key(frozen, "Reporting", "hms_read"),
        "operative": make_key(frozen, "Van 42", "operative_status"),
    }
    api = Api(client, contract, keys["write"])
    api.keys = keys
    assert api.put("/hms/tenants/T-100", TENANT).status_code == 201
    assert api.put("/hms/properties/P-100", HOME).status_code == 201
    assert api.put("/hms/operatives/OP-7", ENGINEER).status_code == 201
    assert api.put("/hms/visits/GAS-2001", VISIT).status_code == 201
    return api


JOB = {"kind": "electrical_check", "property_reference": "P-100", "notes": "EICR due", "due_by": "2024-07-01T00:00:00Z"}


def test_the_hms_creates_a_job_and_reads_it_back(api):
    created = api.put("/hms/jobs/EICR-9", JOB)
    assert created.status_code == 201, created.get_json()
    assert created.get_json() == {
        "reference": "EICR-9",
        "kind": "electrical_check",
        "property_reference": "P-100",
        "status": "open",
        "source": "hms",
        "notes": "EICR due",
        "due_by": "2024-07-01T00:00:00+00:00",
        "finding": None,
        "visit_reference": None,
    }
    assert api.put("/hms/jobs/EICR-9", JOB).status_code == 200
    assert api.get("/hms/jobs/EICR-9", key=api.keys["read"]).get_json()["status"] == "open"
    closed = api.put("/hms/jobs/EICR-9", {**JOB, "status": "done"})
    assert closed.status_code == 200 and closed.get_json()["status"] == "done"


def test_a_job_body_we_cannot_use_is_refused(api):
    unknown_kind = api.put("/hms/jobs/J-1", {**JOB, "kind": "painting"}, check_request=False)
    assert unknown_kind.status_code == 400 and "unknown kind" in unknown_kind.get_json()["fields"]["kind"]
    no_offset = api.put("/hms/jobs/J-1", {**JOB, "due_by": "2024-07-01T00:00:00"}, check_request=False)
    assert no_offset.status_code == 400 and "due_by" in no_offset.get_json()["fields"]
    unknown_home = api.put("/hms/jobs/J-1", {**JOB, "property_reference": "P-404"})
    assert unknown_home.status_code == 422
    assert api.get("/hms/jobs/J-404", key=api.keys["read"]).status_code == 404


def test_job_calls_need_their_scopes(api):
    assert api.put("/hms/jobs/J-1", JOB, key="taa_not-a-key").status_code == 401
    assert api.put("/hms/jobs/J-1", JOB, key=api.keys["read"]).status_code == 403
    assert api.put("/hms/jobs/J-1", JOB).status_code == 201
    assert api.get("/hms/jobs/J-1", key=api.keys["operative"]).status_code == 403


# What operatives notice.


def report(api, reference, body, key=None, check_request=True):
    return api.send("POST", f"/visits/{reference}/findings", body, key or api.keys["operative"], check_request)


def test_damp_an_operative_notices_becomes_a_job_for_the_home(api, frozen):
    found = report(
        api, "GAS-2001", {"kind": "damp", "note": "Black mould behind the bedroom wardrobe", "photo_ref": "IMG-1"}
    )
    assert found.status_code == 201, found.get_json()
    assert found.get_json() == {
        "visit_reference": "GAS-2001",
        "kind": "damp",
        "recorded_as": "job",
        "job_reference": "GAS-2001-F1",
    }
    saved = job(frozen, "GAS-2001-F1")
    assert (saved.kind, saved.source, saved.finding, saved.photo_ref) == (
        "damp_survey",
        "operative_report",
        "damp",
        "IMG-1",
    )
    second = report(api, "GAS-2001", {"kind": "disrepair", "note": "Loose stair rail"})
    assert second.get_json()["job_reference"] == "GAS-2001-F2"
    assert job(frozen, "GAS-2001-F2").kind == "repair"
    read_back = api.get("/hms/jobs/GAS-2001-F1", key=api.keys["read"]).get_json()
    assert read_back["source"] == "operative_report" and read_back["finding"] == "damp"


@pytest.mark.parametrize("kind", ["safeguarding", "hoarding"])
def test_a_concern_about_a_person_goes_to_a_safeguarding_officer_not_a_job(api, frozen, kind):
    found = report(api, "GAS-2001", {"kind": kind, "note": "Rooms hard to get through"})
    assert found.status_code == 201
    assert found.get_json()["recorded_as"] == "officer_task" and found.get_json()["job_reference"] is None
    with transaction(frozen.sessions) as session:
        task = session.scalar(select(OfficerTask))
        visit = session.scalar(select(Visit).where(Visit.reference == "GAS-2001"))
        assert (task.kind, task.visit_id, task.tenant_id) == ("safeguarding", visit.id, visit.tenant_id)
        assert kind in task.detail and "Rooms hard to get through" in task.detail
        assert session.scalar(select(Job)) is None


def test_a_finding_is_checked_and_needs_the_operatives_scope(api):
    body = {"kind": "damp", "note": "Damp under the sink"}
    assert report(api, "GAS-2001", body, key=api.keys["read"]).status_code == 403
    assert report(api, "GAS-2001", body, key="taa_not-a-key").status_code == 401
    assert report(api, "NOPE-1", body).status_code == 404
    bad_kind = report(api, "GAS-2001", {"kind": "ghosts", "note": "x"}, check_request=False)
    assert bad_kind.status_code == 400 and "kind" in bad_kind.get_json()["fields"]
    no_note = report(api, "GAS-2001", {"kind": "damp"}, check_request=False)
    assert no_note.status_code == 400 and no_note.get_json()["fields"]["note"] == "is required"
    extra = report(api, "GAS-2001", {**body, "severity": "high"}, check_request=False)
    assert extra.status_code == 400 and "severity" in extra.get_json()["fields"]


def test_a_short_job_is_offered_by_its_own_name(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant, kind="alarm_check", reference="ALARM-1")
    reply = move_to_thursday(frozen)
    assert "we can also do your smoke and CO alarm check in the same visit" in reply
    assert job(frozen, "ALARM-1").status == "open"


def test_a_visit_the_hms_booked_gets_the_offer_when_the_tenant_confirms_it(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant, kind="alarm_check", reference="ALARM-1")
    booking_notice_sent(frozen, NOW)

    reply = turn(frozen, "yes", "action_affirm")
    assert reply.startswith("Thank you, your gas safety check on Tue 14 May, 10:00-11:00 is confirmed.")
    assert "we can also do your smoke and CO alarm check in the same visit" in reply

    assert turn(frozen, "yes please", "action_affirm").startswith("Done. We will also do your smoke and CO alarm")
    combined = get_visit(frozen, visit.id)
    assert (combined.status, combined.slot_end) == ("confirmed", london(2024, 5, 14, 11, 15))
    assert job(frozen, "ALARM-1").status == "booked"


def test_an_unchecked_number_is_never_told_about_other_work(frozen):
    create_operative(frozen)
    tenant = create_tenant(frozen, verified=False)
    visit = create_visit(frozen, tenant, london(2024, 5, 14, 10), now=NOW)
    add_job(frozen, tenant)
    with transaction(frozen.sessions) as session:
        conversation = messaging.conversation_for(session, tenant.phone, "sms")
        session.flush()
        unchecked = dialogue.system_turn(session, frozen.settings, conversation, session.get(Tenant, tenant.id), NOW)
        assert dialogue._offer_combined(unchecked, session.get(Visit, visit.id)) is False
        assert unchecked.replies == []


# Hostile or careless input from the housing system (found by a break-it review).


def test_a_finding_whose_usual_reference_the_hms_already_used_takes_the_next_one(api):
    assert api.put("/hms/jobs/GAS-2001-F1", JOB).status_code == 201
    found = report(api, "GAS-2001", {"kind": "damp", "note": "Damp under the sink"})
    assert found.status_code == 201 and found.get_json()["job_reference"] == "GAS-2001-F2"


def test_the_hms_cannot_overwrite_what_an_operative_reported(api, frozen):
    reference = report(api, "GAS-2001", {"kind": "mould", "note": "Mould in the child's room"}).get_json()
    answer = api.put(f"/hms/jobs/{reference['job_reference']}", {**JOB, "status": "done"})
    assert answer.status_code == 409
    with transaction(frozen.sessions) as session:
        assert session.scalar(select(Job.notes).where(Job.reference == reference["job_reference"])).startswith("Mould")


@pytest.mark.parametrize("name", ["Am\x00ara", "\u202eAmara", "Amara\nReply STOP"])
def test_names_with_control_or_invisible_characters_are_refused(api, name):
    answer = api.put("/hms/tenants/T-200", {**TENANT, "name": name, "phone": "07700 900124"}, check_request=False)
    assert answer.status_code == 400 and "name" in answer.get_json()["fields"]


def test_a_reference_with_a_trailing_new_line_is_refused(api):
    answer = api.client.put(
        "/api/v1/hms/tenants/T-1%0A", json=TENANT, headers={"Authorization": f"Bearer {api.keys['write']}"}
    )
    assert answer.status_code == 400


def test_a_deeply_nested_body_is_a_clear_400(api):
    answer = api.client.put(
        "/api/v1/hms/tenants/T-300",
        data="[" * 100_000,
        headers={"Authorization": f"Bearer {api.keys['write']}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
