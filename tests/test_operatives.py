"""Operatives on their way: the API, the tenant's texts, the tracking page, replies and visits we missed.

The clock is frozen on the morning of a visit (Tue 14 May 2024, 10:00-11:00
London time). Reports go through the real API with a real key; the tenant's side
runs the dialogue the way the action server does; texts land in the simulator.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from service import adjustments, api_keys, i18n, messaging, missed_visits, operatives
from service.dialogue import HANDLERS
from store.db import transaction
from store.models import ApiKey, Message, OfficerTask, Tenant, Visit, VisitEvent
from tests.factories import SENDER, create_operative, create_tenant, create_visit, get_visit, london, new_sid, sent_to

NOW = london(2024, 5, 14, 9, 30)  # Tuesday morning
SLOT = london(2024, 5, 14, 10, 0)  # the visit: 10:00-11:00
PHONE = "+447700900123"


@pytest.fixture
def frozen(runtime):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    return runtime


@pytest.fixture
def key(frozen):
    with transaction(frozen.sessions) as session:
        return api_keys.create_key(session, "Scheduler", ["operative_status"])


@pytest.fixture
def visit(frozen):
    tenant = create_tenant(frozen)
    return create_visit(frozen, tenant, SLOT, reference="GAS-1001", now=NOW - timedelta(days=10))


def report(client, key, body, reference="GAS-1001"):
    return client.post(f"/api/v1/visits/{reference}/status", json=body, headers={"Authorization": f"Bearer {key}"})


def look_up(client, key, reference="GAS-1001"):
    return client.get(f"/api/v1/visits/{reference}", headers={"Authorization": f"Bearer {key}"})


def at(runtime, moment):
    runtime.clock = lambda: moment


def texts_to(simulator, phone=PHONE) -> list[str]:
    return [message["body"] for message in sent_to(simulator, phone)]


def turn(runtime, text, action, intent=None, phone=PHONE):
    """One tenant message answered by the dialogue, as the action server would ask for it."""
    message, _ = messaging.store_inbound(runtime, {"From": phone, "To": SENDER, "Body": text, "MessageSid": new_sid()})
    intent = intent or action.removeprefix("action_")
    assert messaging.answer_turn(runtime, message.conversation_id, message.id, action, intent, 0.95)
    with transaction(runtime.sessions) as session:
        return "\n".join(session.scalars(select(Message.body).where(Message.reply_to_id == message.id)).all())


def tasks(runtime) -> list[str]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(OfficerTask.kind).order_by(OfficerTask.id)))


def events(runtime, visit_id) -> list[tuple[str, str]]:
    return [(event.status, event.actor) for event in get_visit(runtime, visit_id).history]


def failures(runtime, tenant_id) -> int:
    with transaction(runtime.sessions) as session:
        return operatives.access_failures(session, tenant_id)


def make_discreet(runtime, tenant_id):
    with transaction(runtime.sessions) as session:
        adjustments.record(
            session,
            tenant_id,
            ["discreet"],
            "my partner reads my texts",
            recorded_by="officer:1",
            consent_how="told an officer by phone",
            now=NOW,
            settings={"channel": "sms", "safe_hours": ["08:00", "20:00"], "exit_word": "pineapple"},
        )


# Who may call the API.


def test_the_api_needs_a_valid_key_with_the_right_scope(frozen, client, key, visit):
    on_my_way = {"status": "on_my_way", "eta": "10:40"}
    assert client.post("/api/v1/visits/GAS-1001/status", json=on_my_way).status_code == 401
    assert report(client, "taa_not-a-key-we-made", on_my_way).status_code == 401
    assert look_up(client, "").status_code == 401

    with transaction(frozen.sessions) as session:
        session.add(ApiKey(name="Reports", key_sha256=api_keys.hash_key("taa_reports"), scopes=["reports"]))
        session.add(ApiKey(name="Old van", key_sha256=api_keys.hash_key("taa_retired"), scopes=["operative_status"]))
        session.scalar(select(ApiKey).where(ApiKey.name == "Old van")).active = False
    wrong_scope = report(client, "taa_reports", on_my_way)
    assert wrong_scope.status_code == 403 and "operative_status" in wrong_scope.get_json()["error"]
    assert report(client, "taa_retired", on_my_way).status_code == 401

    # Authenticated by its key, not by a session: no CSRF token is needed.
    answer = report(client, key, on_my_way)
    assert answer.status_code == 200, answer.get_json()
    assert events(frozen, visit.id)[-1] == ("on_my_way", "operative:Scheduler")


def test_only_the_hash_of_a_key_is_stored_and_the_command_prints_it_once(frozen, live_app):
    result = live_app.test_cli_runner().invoke(
        args=["create-api-key", "--name", "Van 7", "--scope", "operative_status"]
    )
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("taa_") and len(key) > 40
    with transaction(frozen.sessions) as session:
        stored = session.scalar(select(ApiKey))
        assert (stored.name, stored.scopes, stored.active) == ("Van 7", ["operative_status"], True)
        assert stored.key_sha256 == api_keys.hash_key(key) and key not in stored.key_sha256
        assert api_keys.key_for(session, key).id == stored.id

    again = live_app.test_cli_runner().invoke(args=["create-api-key", "--name", "Van 7", "--scope", "operative_status"])
    assert again.exit_code != 0 and "already a key called Van 7" in again.output
    unknown = live_app.test_cli_runner().invoke(args=["create-api-key", "--name", "X", "--scope", "everything"])
    assert unknown.exit_code != 0


@pytest.mark.parametrize(
    "body, says",
    [
        ("on my way", "send a JSON object"),
        ({}, "status must be one of: on_my_way, running_late, arrived, finished, no_access"),
        ({"status": "lost"}, "status must be one of"),
        ({"status": "on_my_way"}, "eta is required for on_my_way and running_late"),
        ({"status": "running_late", "eta": ""}, "eta is required"),
        ({"status": "on_my_way", "eta": "soon"}, "eta must be an ISO-8601 time"),
        ({"status": "on_my_way", "eta": 1040}, "eta must be an ISO-8601 time"),
        ({"status": "on_my_way", "eta": "2024-05-15T10:40:00+01:00"}, "eta must be between now and 12 hours ahead"),
        ({"status": "on_my_way", "eta": "2024-05-14T08:00:00+01:00"}, "eta must be between now"),
        ({"status": "arrived", "note": 7}, "note must be text"),
        ({"status": "arrived", "note": "x" * 501}, "note must be text of at most 500 characters"),
    ],
)
def test_a_report_we_cannot_use_gets_a_400_saying_what_to_send(frozen, client, key, visit, body, says):
    if isinstance(body, str):
        answer = client.post(
            "/api/v1/visits/GAS-1001/status",
            data=body,
            content_type="text/plain",
            headers={"Authorization": f"Bearer {key}"},
        )
    else:
        answer = report(client, key, body)
    assert answer.status_code == 400
    assert says in answer.get_json()["error"]
    assert events(frozen, visit.id) == [("booked", "system")]


def test_an_unknown_visit_is_a_404(frozen, client, key, visit):
    assert report(client, key, {"status": "arrived"}, reference="GAS-9999").status_code == 404
    assert look_up(client, key, reference="GAS-9999").get_json() == {"error": "no visit has that reference"}


# What each report does.


def test_on_my_way_texts_the_eta_the_operative_the_doorstep_code_and_a_tracking_link(
    frozen, client, key, visit, simulator
):
    answer = report(client, key, {"status": "on_my_way", "eta": "2024-05-14T09:40:00Z", "note": "From the depot"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["tenant_texted"] is True
    assert (body["status"], body["operative_status"]) == ("booked", "on_my_way")
    assert body["eta"] == "2024-05-14T09:40:00+00:00"
    assert body["slot"] == {"start": "2024-05-14T09:00:00+00:00", "end": "2024-05-14T10:00:00+00:00"}

    saved = get_visit(frozen, visit.id)
    link = f"{frozen.base_url}/track/{saved.tracking_token}"
    [text] = texts_to(simulator)
    assert text == (
        f"Hello, Priya is on the way for your gas safety check and should be with you at about 10:40. "
        f"They will tell you the code {saved.doorstep_code} at the door. See updates: {link}"
    )
    assert len(saved.tracking_token) >= 32
    assert saved.history[-1].note == "ETA 10:40. From the depot"

    # A retry from the operative's app records it again but does not text the tenant twice.
    assert report(client, key, {"status": "on_my_way", "eta": "10:40"}).get_json()["tenant_texted"] is False
    assert len(texts_to(simulator)) == 1
    with transaction(frozen.sessions) as session:
        sent = session.scalar(select(Message).where(Message.template_key == "on_my_way"))
        assert sent.visit_id == visit.id
        assert sent.raw["text_key"] == "on_my_way" and sent.raw["variables"]["code"] == saved.doorstep_code


def test_running_late_says_sorry_with_the_new_eta_once_per_new_time(frozen, client, key, visit, simulator):
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    at(frozen, london(2024, 5, 14, 10, 30))
    assert report(client, key, {"status": "running_late", "eta": "11:10"}).get_json()["tenant_texted"] is True
    assert report(client, key, {"status": "running_late", "eta": "11:10"}).get_json()["tenant_texted"] is False

    late = texts_to(simulator)[-1]
    assert late.startswith("Sorry, Priya is running late for your gas safety check.")
    assert "about 11:10" in late and "/track/" in late
    assert len(texts_to(simulator)) == 2


def test_arrived_and_finished_move_the_visit_on_and_each_is_recorded(frozen, client, key, visit, simulator):
    report(client, key, {"status": "on_my_way", "eta": "10:00"})
    at(frozen, london(2024, 5, 14, 10, 2))
    arrived = report(client, key, {"status": "arrived"}).get_json()
    assert (arrived["status"], arrived["operative_status"]) == ("booked", "arrived")
    at(frozen, london(2024, 5, 14, 10, 50))
    finished = report(client, key, {"status": "finished", "note": "Boiler passed"}).get_json()
    assert (finished["status"], finished["operative_status"]) == ("completed", "finished")

    saved = get_visit(frozen, visit.id)
    assert saved.arrived_at == london(2024, 5, 14, 10, 2)
    assert [status for status, _ in events(frozen, visit.id)] == ["booked", "on_my_way", "arrived", "completed"]
    assert saved.history[-1].note == "Boiler passed"
    texts = texts_to(simulator)
    assert len(texts) == 2, "the on-my-way text, then the one question on how the visit went"
    assert texts[1].startswith("How did your visit go?")

    # The visit is over: a late report changes nothing and says so.
    closed = report(client, key, {"status": "arrived"})
    assert closed.status_code == 409 and "completed" in closed.get_json()["error"]


def test_no_access_in_the_slot_is_recorded_as_the_operatives_attempt(frozen, client, key, visit):
    at(frozen, london(2024, 5, 14, 10, 20))
    answer = report(client, key, {"status": "no_access", "note": "Card left"}).get_json()
    assert (answer["status"], answer["operative_status"]) == ("no_access", "no_access")
    assert events(frozen, visit.id)[-1] == ("no_access", "operative:Scheduler")
    assert failures(frozen, visit.tenant_id) == 1
    # It is an attempt, not a visit we missed: the sweep leaves it to the no-access policy.
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 13)) == 0


# What the tenant is told, and what they are not.


def test_a_discreet_tenant_hears_only_about_their_appointment(frozen, client, key, visit, simulator):
    make_discreet(frozen, visit.tenant_id)
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    [text] = texts_to(simulator)
    assert text.startswith("Hello, Priya is on the way for your appointment")
    assert "gas" not in text.lower() and "Amara" not in text and "Larch" not in text

    page = client.get(f"/track/{get_visit(frozen, visit.id).tracking_token}").get_data(as_text=True)
    assert "Your appointment" in page and "gas" not in page.lower()


def test_a_discreet_tenant_is_not_texted_outside_their_safe_hours(frozen, client, key, visit, simulator):
    make_discreet(frozen, visit.tenant_id)
    with transaction(frozen.sessions) as session:
        discreet = adjustments.discreet_for(session, visit.tenant_id)
        discreet.settings = {**discreet.settings, "safe_hours": ["12:00", "14:00"]}
    assert report(client, key, {"status": "on_my_way", "eta": "10:40"}).get_json()["tenant_texted"] is False
    assert texts_to(simulator) == []


def test_an_unchecked_number_hears_nothing_about_the_visit(frozen, client, key, simulator):
    tenant = create_tenant(frozen, verified=False)
    create_visit(frozen, tenant, SLOT, reference="GAS-1001", now=NOW - timedelta(days=10))
    answer = report(client, key, {"status": "on_my_way", "eta": "10:40"})
    assert answer.status_code == 200 and answer.get_json()["tenant_texted"] is False
    assert texts_to(simulator) == []


def test_a_tenant_who_opted_out_is_not_texted(frozen, client, key, visit, simulator):
    with transaction(frozen.sessions) as session:
        session.get(Tenant, visit.tenant_id).sms_opted_out = True
    assert report(client, key, {"status": "on_my_way", "eta": "10:40"}).get_json()["tenant_texted"] is False
    assert texts_to(simulator) == []


# The tracking page.


def tracking_page(client, runtime, visit_id):
    return client.get(f"/track/{get_visit(runtime, visit_id).tracking_token}")


def test_the_tracking_page_shows_the_window_and_how_the_day_is_going_and_nothing_else(frozen, client, key, visit):
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    answer = tracking_page(client, frozen, visit.id)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "<title>Your gas safety check</title>" in page
    assert "Booked for Tue 14 May, 10:00-11:00" in page
    assert "On the way. Expected at about 10:40." in page
    assert '<html lang="en" dir="ltr">' in page
    assert "Amara" not in page and "Okafor" not in page and "Larch" not in page and "LS6" not in page
    assert "Priya" not in page and "07700" not in page and get_visit(frozen, visit.id).doorstep_code not in page

    assert answer.headers["Cache-Control"].startswith("no-store")
    assert answer.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert '<meta name="robots" content="noindex, nofollow">' in page

    for status, eta, shown in [
        ("running_late", "11:10", "Sorry, running late. Now expected at about 11:10."),
        ("arrived", None, "They have arrived."),
        ("finished", None, "The visit is finished. Thank you."),
    ]:
        report(client, key, {"status": status, "eta": eta} if eta else {"status": status})
        assert shown in tracking_page(client, frozen, visit.id).get_data(as_text=True)


def test_the_tracking_page_is_in_the_tenants_language_right_to_left_where_it_should_be(frozen, client, key):
    tenant = create_tenant(frozen, language="ar")
    visit = create_visit(frozen, tenant, SLOT, reference="GAS-1001", now=NOW - timedelta(days=10))
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    page = tracking_page(client, frozen, visit.id).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert i18n.format_slot(SLOT, SLOT + timedelta(hours=1), "ar") in page


def test_the_tracking_page_is_a_404_for_unknown_moved_or_long_past_visits(frozen, client, key, visit):
    assert client.get("/track/not-a-token").status_code == 404
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    token = get_visit(frozen, visit.id).tracking_token
    assert client.get(f"/track/{token}").status_code == 200
    at(frozen, SLOT + timedelta(days=3))
    assert client.get(f"/track/{token}").status_code == 404


# The tenant answers while the operative is on the way.


def test_im_not_in_reaches_the_operative_and_the_office_and_the_tenant_can_rebook(frozen, client, key, visit):
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    at(frozen, london(2024, 5, 14, 9, 45))
    reply = turn(frozen, "I'm not in", "action_cannot_make_it")
    assert reply == (
        "Thank you for letting us know. We have passed your message on to Priya and our team.\n"
        "What day and time would suit you better? For example: Thursday afternoon."
    )
    assert tasks(frozen) == ["tenant_not_in"]

    relayed = look_up(client, key).get_json()["tenant_replies"]
    assert [(item["kind"], item["text"]) for item in relayed] == [("cannot_make_it", "I'm not in")]
    assert relayed[0]["summary"] == "The tenant says they cannot be in now."

    offer = turn(frozen, "thursday afternoon", "action_rebook")
    assert "I can offer these times for your gas safety check:" in offer and "Thu 16 May" in offer
    turn(frozen, "1", "action_fallback")
    assert turn(frozen, "yes", "action_affirm").startswith("Done.")
    assert tasks(frozen) == ["tenant_not_in"]  # the office already knows to tell the operative


def test_a_move_or_cancel_while_the_operative_is_on_the_way_tells_the_office_to_stop_them(frozen, client, key, visit):
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    at(frozen, london(2024, 5, 14, 9, 45))
    turn(frozen, "cancel my visit", "action_cancel")
    assert turn(frozen, "yes", "action_affirm").startswith("Your gas safety check")
    assert get_visit(frozen, visit.id).status == "cancelled"
    # Stop the operative, and still offer the tenant a new date.
    assert tasks(frozen) == ["tenant_not_in", "visit_cancelled"]
    relayed = look_up(client, key).get_json()["tenant_replies"]
    assert [(item["kind"], item["text"]) for item in relayed] == [("cannot_make_it", "yes")]


def test_a_move_while_the_operative_is_on_the_way_tells_the_office(frozen, client, key, visit):
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    at(frozen, london(2024, 5, 14, 9, 45))
    turn(frozen, "can you do thursday afternoon instead", "action_rebook")
    # Told at once, before any new time is picked: they must know before they knock.
    assert tasks(frozen) == ["tenant_not_in"]
    assert [item["text"] for item in look_up(client, key).get_json()["tenant_replies"]] == [
        "can you do thursday afternoon instead"
    ]

    turn(frozen, "1", "action_fallback")
    assert turn(frozen, "yes", "action_affirm").startswith("Done.")
    assert tasks(frozen) == ["tenant_not_in"]
    statuses = [event.status for event in get_visit(frozen, visit.id).history]
    assert statuses.index("tenant_not_in") < statuses.index("moved")


def test_once_the_operative_has_arrived_a_move_or_cancel_by_text_goes_to_people(frozen, client, key, visit):
    turn(frozen, "thursday afternoon", "action_rebook")
    assert turn(frozen, "1", "action_fallback").startswith("Just to check: move your gas safety check to")
    report(client, key, {"status": "on_my_way", "eta": "10:05"})
    at(frozen, london(2024, 5, 14, 10, 5))
    report(client, key, {"status": "arrived"})

    # The move agreed before the knock, a cancel and a new request all reach the operative and an officer.
    told = "Thank you for letting us know. We have passed your message on to Priya and our team."
    assert turn(frozen, "yes", "action_affirm") == told
    assert turn(frozen, "cancel it", "action_cancel") == told
    assert turn(frozen, "friday morning instead", "action_rebook") == told

    # A yes after that is not a confirmation of the visit the tenant just asked to cancel.
    assert turn(frozen, "yes", "action_affirm") == told

    kept = get_visit(frozen, visit.id)
    assert (kept.slot_start, kept.status, kept.operative_status) == (SLOT, "booked", "arrived")
    assert tasks(frozen) == ["change_at_door"]  # one task for the officer, however many texts
    relayed = look_up(client, key).get_json()["tenant_replies"]
    assert [item["text"] for item in relayed] == ["yes", "cancel it", "friday morning instead", "yes"]
    assert {item["kind"] for item in relayed} == {"change_request"}


def test_cant_make_it_with_a_day_named_gets_real_slots_straight_away(frozen, client, key, visit):
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    reply = turn(frozen, "can't make it now, can you come thursday afternoon", "action_cannot_make_it")
    assert reply.startswith("Thank you for letting us know. We have passed your message on to Priya")
    assert "1. Thu 16 May" in reply


def test_the_operative_sees_only_replies_since_they_set_off(frozen, client, key, visit):
    turn(frozen, "I'm not in", "action_cannot_make_it")  # the day before: an ordinary "can't make it"
    assert look_up(client, key).get_json()["tenant_replies"] == []
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    assert look_up(client, key).get_json()["tenant_replies"] == []


# "Nobody came", and visits we missed.


def test_nobody_came_after_the_slot_is_our_miss_with_an_apology_and_new_times(frozen, visit):
    at(frozen, london(2024, 5, 14, 11, 15))
    reply = turn(frozen, "the engineer never came", "action_nobody_came")
    assert reply.startswith(
        "We are very sorry: we did not come for your gas safety check on Tue 14 May, 10:00-11:00. "
        "That was our fault, not yours.\nI can offer these times for your gas safety check:\n1. "
    )
    assert tasks(frozen) == ["missed_by_provider"]
    saved = get_visit(frozen, visit.id)
    assert saved.missed_by_provider_at == london(2024, 5, 14, 11, 15)
    assert events(frozen, visit.id)[-1] == ("missed_by_provider", "tenant")
    assert failures(frozen, visit.tenant_id) == 0

    # Saying it again apologises again, but the miss and the office's task are recorded once.
    assert turn(frozen, "nobody turned up", "action_nobody_came").startswith("We are very sorry")
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 13)) == 0
    assert tasks(frozen) == ["missed_by_provider"]


def test_a_new_time_picked_after_a_miss_moves_the_visit_and_starts_afresh(frozen, visit):
    at(frozen, london(2024, 5, 14, 11, 15))
    offer = turn(frozen, "nobody came", "action_nobody_came")
    first = next(line for line in offer.splitlines() if line.startswith("1. "))
    assert turn(frozen, "1", "action_fallback").startswith("Just to check: move your gas safety check to")
    assert turn(frozen, "yes", "action_affirm").startswith("Done. Your gas safety check is now on " + first[3:])
    moved = get_visit(frozen, visit.id)
    assert moved.status == "confirmed" and moved.missed_by_provider_at is None and moved.slot_start > NOW
    assert [status for status, _ in events(frozen, visit.id)][-3:] == ["missed_by_provider", "moved", "confirmed"]


def test_nobody_came_during_the_slot_or_with_the_operative_on_the_way_is_answered_not_recorded(
    frozen, client, key, visit
):
    at(frozen, london(2024, 5, 14, 10, 15))
    assert turn(frozen, "nobody came", "action_nobody_came") == (
        "Your gas safety check is booked for Tue 14 May, 10:00-11:00, so we may still be on the way. "
        "If nobody has come by the end of that time, please tell us."
    )
    report(client, key, {"status": "running_late", "eta": "11:20"})
    at(frozen, london(2024, 5, 14, 11, 5))
    assert turn(frozen, "no one's turned up", "action_nobody_came") == (
        "Priya is on the way and should be with you at about 11:20."
    )
    assert get_visit(frozen, visit.id).missed_by_provider_at is None
    assert tasks(frozen) == []


def test_nobody_came_when_the_operative_reported_a_visit_goes_to_a_person_blaming_nobody(frozen, client, key, visit):
    at(frozen, london(2024, 5, 14, 10, 20))
    report(client, key, {"status": "no_access"})
    at(frozen, london(2024, 5, 14, 11, 30))
    reply = turn(frozen, "nobody came, I was in all day", "action_nobody_came")
    assert reply.startswith("Thank you for telling us, and sorry for the trouble. We are checking what happened")
    assert tasks(frozen) == ["visit_disputed"]
    assert get_visit(frozen, visit.id).missed_by_provider_at is None


def test_nobody_came_with_no_visit_due_is_passed_to_the_office(frozen):
    create_tenant(frozen)
    assert turn(frozen, "nobody came", "action_nobody_came") == i18n.render("nobody_came_no_visit", "en")
    assert tasks(frozen) == ["nobody_came"]


def test_nobody_came_before_a_visit_later_today_gets_its_time(frozen, visit):
    assert turn(frozen, "no one has come", "action_nobody_came").startswith(
        "Your gas safety check is booked for Tue 14 May, 10:00-11:00, so we may still be on the way."
    )
    assert tasks(frozen) == []


def test_nobody_came_has_its_own_action():
    assert HANDLERS["action_nobody_came"].__name__ == "_nobody_came"


def test_the_sweep_finds_a_missed_slot_once_an_hour_has_passed_and_never_twice(frozen, visit, simulator):
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 11, 30)) == 0
    at(frozen, london(2024, 5, 14, 12, 0))
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 12, 0)) == 1
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 12, 15)) == 0

    [text] = texts_to(simulator)
    assert text.startswith("We are very sorry: we did not come for your gas safety check on Tue 14 May")
    assert "1. " in text and "Reply with the number you would like" in text
    with transaction(frozen.sessions) as session:
        task = session.scalar(select(OfficerTask))
        assert (task.kind, task.visit_id) == ("missed_by_provider", visit.id)
        assert "not the tenant's failed attempt" in task.detail
    assert events(frozen, visit.id)[-1] == ("missed_by_provider", "system")
    assert failures(frozen, visit.tenant_id) == 0

    # The apology is a question: the tenant's "1" picks the first new time.
    assert turn(frozen, "1", "action_fallback").startswith("Just to check: move your gas safety check to")


def test_the_sweep_counts_arrival_well_outside_the_slot_as_ours(frozen, client, key, visit, simulator):
    at(frozen, london(2024, 5, 14, 12, 30))  # 90 minutes after the slot ended
    answer = report(client, key, {"status": "no_access"}).get_json()
    assert answer["status"] == "booked"
    assert events(frozen, visit.id)[-1] == ("no_access_off_slot", "operative:Scheduler")

    assert missed_visits.sweep(frozen, london(2024, 5, 14, 12, 35)) == 1
    with transaction(frozen.sessions) as session:
        assert "came at 12:30, well outside the slot" in session.scalar(select(OfficerTask.detail))
    assert failures(frozen, visit.tenant_id) == 0
    assert texts_to(simulator)[-1].startswith("We are very sorry")
    with transaction(frozen.sessions) as session:
        statuses = set(session.scalars(select(VisitEvent.status).where(VisitEvent.visit_id == visit.id)))
    assert "no_access" not in statuses


def test_nobody_came_after_a_no_access_report_inside_the_slot_is_checked_by_a_person(frozen, client, key, visit):
    at(frozen, london(2024, 5, 14, 10, 20))
    assert report(client, key, {"status": "no_access"}).status_code == 200
    at(frozen, london(2024, 5, 14, 10, 40))  # the slot is not over, but the operative has been and gone

    reply = turn(frozen, "I was in all day, nobody knocked!", "action_nobody_came")
    assert reply.startswith("Thank you for telling us, and sorry for the trouble. We are checking what happened")
    assert "may still be on the way" not in reply
    assert "visit_disputed" in tasks(frozen)


def test_no_access_well_before_the_slot_is_ours_at_once(frozen, client, key, visit):
    at(frozen, london(2024, 5, 14, 8, 0))  # two hours early: the tenant had no reason to be in
    assert report(client, key, {"status": "no_access"}).get_json()["status"] == "booked"
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 8, 5)) == 1
    assert get_visit(frozen, visit.id).missed_by_provider_at == london(2024, 5, 14, 8, 5)
    assert failures(frozen, visit.tenant_id) == 0


def test_the_sweep_waits_while_the_operative_is_still_on_the_way(frozen, client, key, visit):
    at(frozen, london(2024, 5, 14, 11, 0))
    report(client, key, {"status": "running_late", "eta": "12:30"})
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 12, 15)) == 0
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 12, 45)) == 1


def test_the_sweep_leaves_old_slots_alone_and_can_be_switched_off(frozen, visit, monkeypatch):
    assert missed_visits.sweep(frozen, london(2024, 5, 15, 12, 0)) == 0, "ended more than a day ago"
    monkeypatch.setitem(frozen.settings.raw, "operatives", {"sweep_missed_visits": False})
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 12, 30)) == 0
    monkeypatch.setitem(frozen.settings.raw, "operatives", {"missed_after_minutes": 30})
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 11, 35)) == 1


def test_the_sweep_tells_the_office_but_not_an_unchecked_number(frozen, simulator):
    tenant = create_tenant(frozen, verified=False)
    create_visit(frozen, tenant, SLOT, now=NOW - timedelta(days=10))
    assert missed_visits.sweep(frozen, london(2024, 5, 14, 12, 30)) == 1
    assert texts_to(simulator) == []
    with transaction(frozen.sessions) as session:
        assert "The tenant was not texted." in session.scalar(select(OfficerTask.detail))


def test_the_reminders_command_also_sweeps_missed_visits(frozen, live_app, visit):
    result = live_app.test_cli_runner().invoke(args=["reminders", "--at", "2024-05-14 12:30"])
    assert result.exit_code == 0, result.output
    assert "visits we missed, apologised for and passed to the office: 1" in result.output
    again = live_app.test_cli_runner().invoke(args=["reminders", "--at", "2024-05-14 12:45"])
    assert "visits we missed, apologised for and passed to the office: 0" in again.output


def test_a_visit_cancelled_or_already_missed_takes_no_more_reports(frozen, client, key, visit):
    with transaction(frozen.sessions) as session:
        session.get(Visit, visit.id).status = "cancelled"
    cancelled = report(client, key, {"status": "on_my_way", "eta": "10:40"})
    assert cancelled.status_code == 409 and "cancelled" in cancelled.get_json()["error"]

    with transaction(frozen.sessions) as session:
        session.get(Visit, visit.id).status = "booked"
    missed_visits.sweep(frozen, london(2024, 5, 14, 12, 30))
    missed = report(client, key, {"status": "arrived"})
    assert missed.status_code == 409 and "already recorded as missed" in missed.get_json()["error"]
    assert look_up(client, key).get_json()["missed_by_provider"] is True


def test_the_operative_sees_what_to_do_at_the_door_but_never_the_need_itself(frozen, client, key, visit):
    from service import adjustments as needs_store

    with transaction(frozen.sessions) as session:
        needs_store.record(
            session,
            visit.tenant_id,
            ["no_calls", "extra_time"],
            "I am deaf and use a walking frame",
            recorded_by="assistant",
            consent_how="tenant agreed by text",
            now=NOW,
        )
    answer = look_up(client, key).get_json()
    assert answer["briefing"] == [needs_store.KINDS["no_calls"].briefing, needs_store.KINDS["extra_time"].briefing]
    assert "deaf" not in str(answer) and "walking frame" not in str(answer)


def test_an_app_flipping_between_etas_texts_the_tenant_at_most_three_times(frozen, client, key, visit, simulator):
    report(client, key, {"status": "on_my_way", "eta": "10:40"})
    at(frozen, london(2024, 5, 14, 10, 30))
    for eta in ("11:10", "11:20", "11:10", "11:20", "11:10", "11:20"):
        report(client, key, {"status": "running_late", "eta": eta})
    late = [text for text in texts_to(simulator) if text.startswith("Sorry,")]
    assert len(late) == 3


def test_on_my_way_for_a_visit_next_week_is_refused_and_nobody_is_texted(frozen, client, key, simulator):
    tenant = create_tenant(frozen, phone="+447700900124", name="Kofi Mensah")
    create_visit(frozen, tenant, london(2024, 5, 21, 10), reference="GAS-2002", now=NOW - timedelta(days=10))
    answer = report(client, key, {"status": "on_my_way", "eta": "10:40"}, reference="GAS-2002")
    assert answer.status_code == 409 and "on the day" in answer.get_json()["error"]
    assert sent_to(simulator, "+447700900124") == []


@pytest.mark.parametrize("status", ["arrived", "finished", "no_access"])
def test_arrived_finished_or_no_access_the_evening_before_the_slot_are_refused(frozen, client, key, status):
    tenant = create_tenant(frozen, phone="+447700900124", name="Kofi Mensah")
    visit = create_visit(frozen, tenant, london(2024, 5, 15, 8), reference="GAS-2002", now=NOW - timedelta(days=10))
    at(frozen, london(2024, 5, 14, 20, 0))  # within 12 hours, but not yet the visit's day
    answer = report(client, key, {"status": status}, reference="GAS-2002")
    assert answer.status_code == 409
    assert get_visit(frozen, visit.id).status == "booked"


@pytest.mark.parametrize("status", ["arrived", "finished", "no_access"])
def test_arrived_finished_or_no_access_days_from_the_slot_are_refused_and_change_nothing(
    frozen, client, key, simulator, status
):
    tenant = create_tenant(frozen, phone="+447700900124", name="Kofi Mensah")
    visit = create_visit(frozen, tenant, london(2024, 5, 21, 10), reference="GAS-2002", now=NOW - timedelta(days=10))
    answer = report(client, key, {"status": status}, reference="GAS-2002")
    assert answer.status_code == 409 and "on the day" in answer.get_json()["error"]
    kept = get_visit(frozen, visit.id)
    assert (kept.status, kept.operative_status, kept.arrived_at) == ("booked", None, None)
    assert sent_to(simulator, "+447700900124") == []


@pytest.mark.parametrize("eta", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_an_eta_at_the_edge_of_the_calendar_is_a_clear_400(frozen, client, key, visit, eta):
    answer = report(client, key, {"status": "on_my_way", "eta": eta})
    assert answer.status_code == 400
