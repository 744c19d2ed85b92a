"""The officers' web console: sign-in, roles, the queue, conversations and quick actions."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from store.db import transaction
from store.models import AuditEntry, Officer, OfficerTask, Reminder
from tests.console_factories import (
    PASSWORD,
    audit_actions,
    create_officer,
    csrf_token,
    get_conversation,
    open_conversation,
    page,
    post_form,
    queue_conversation,
    sign_in,
    taken_conversation,
)
from tests.factories import create_operative, create_tenant, create_visit, get_visit, london, sent_to, tenant_says

NOW = london(2024, 5, 13, 10, 0)  # a Monday


@pytest.fixture
def officer(runtime):
    return create_officer(runtime)


@pytest.fixture
def signed_in(client, officer):
    assert sign_in(client).status_code == 302
    return client


# Signing in.


def test_an_officer_with_the_right_password_signs_in_and_sees_the_queue(runtime, client, officer):
    answer = sign_in(client)
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/"
    assert "Conversations with people" in page(client, "/console/")
    assert audit_actions(runtime) == ["officer_created", "signed_in"]


def test_a_wrong_password_is_refused_and_gives_no_session(client, officer):
    answer = sign_in(client, password="not the password")
    assert answer.status_code == 401
    assert "do not match" in answer.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_an_unknown_email_is_refused_the_same_way(client, officer):
    answer = sign_in(client, email="nobody@example.org")
    assert answer.status_code == 401


def test_a_deactivated_officer_is_signed_out_at_the_next_click(runtime, signed_in, officer):
    with transaction(runtime.sessions) as session:
        session.get(Officer, officer.id).active = False
    answer = signed_in.get("/console/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/console/sign-in")
    assert sign_in(signed_in).status_code == 401


def test_signing_in_without_the_csrf_token_is_refused(client, officer):
    answer = client.post("/console/sign-in", data={"email": officer.email, "password": PASSWORD})
    assert answer.status_code == 400
    assert "CSRF" in answer.get_data(as_text=True)


def test_a_console_form_without_the_csrf_token_changes_nothing(runtime, signed_in):
    tenant = create_tenant(runtime)
    conversation = open_conversation(runtime, tenant)
    queue_conversation(runtime, conversation.id, NOW)
    answer = signed_in.post(f"/console/conversations/{conversation.id}/take-over")
    assert answer.status_code == 400
    assert get_conversation(runtime, conversation.id).owner == "queued"


def test_signing_out_ends_the_session(runtime, signed_in):
    assert post_form(signed_in, "/console/sign-out").status_code == 302
    assert signed_in.get("/console/").status_code == 302
    assert audit_actions(runtime)[-1] == "signed_out"


def test_a_sign_in_link_never_sends_the_officer_to_another_site(client, officer):
    token = csrf_token(client, "/console/sign-in?next=//evil.example/console/")
    answer = client.post(
        "/console/sign-in",
        data={"email": officer.email, "password": PASSWORD, "csrf_token": token, "next": "//evil.example/console/"},
    )
    assert answer.headers["Location"] == "/console/"


# Webhooks keep their own authentication.


def test_twilio_and_the_action_server_need_no_csrf_token(runtime, live_app, client):
    create_tenant(runtime)
    assert tenant_says(live_app, "") == [
        "Your message arrived empty. Please reply with a few words, for example YES to confirm your visit."
    ]
    # Refused for its missing bearer token, not for a missing CSRF token.
    assert client.post("/internal/assistant/turn", json={}).status_code == 401


# Roles.


def test_every_console_route_names_who_may_use_it(live_app):
    for rule in live_app.url_map.iter_rules():
        if rule.endpoint.startswith("console.") and rule.endpoint != "console.static":
            view = live_app.view_functions[rule.endpoint]
            assert getattr(view, "console_access", None), f"{rule.rule} does not say who may use it"


def test_console_pages_need_a_signed_in_officer(runtime, client):
    tenant = create_tenant(runtime)
    conversation = open_conversation(runtime, tenant)
    answer = client.get(f"/console/conversations/{conversation.id}")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/console/sign-in?next=/console/conversations/{conversation.id}"
    take_over = client.post(
        f"/console/conversations/{conversation.id}/take-over", data={"csrf_token": csrf_token(client)}
    )
    assert take_over.status_code == 302 and get_conversation(runtime, conversation.id).owner == "assistant"


def test_only_an_admin_sees_the_audit_trail(runtime, client, signed_in):
    assert signed_in.get("/console/audit").status_code == 403

    admin = client.application.test_client()
    create_officer(runtime, email="jo.admin@example.org", name="Jo Admin", role="admin")
    sign_in(admin, email="jo.admin@example.org")
    html = page(admin, "/console/audit")
    assert "Sam Patel" in html and "Signed in" in html


def test_a_route_can_only_require_roles_that_exist():
    from service.console.blueprint import requires_role

    with pytest.raises(ValueError):
        requires_role("superuser")


# The queue.


def test_the_queue_shows_urgent_first_then_the_longest_waiting(runtime, signed_in):
    runtime.clock = lambda: NOW
    waiting = {}
    for index, (name, waited_minutes, urgent) in enumerate(
        [("Ada Brown", 90, False), ("Bea Clarke", 20, True), ("Cal Davies", 240, False), ("Dot Evans", 5, False)]
    ):
        tenant = create_tenant(runtime, phone=f"+44770090020{index}", name=name)
        conversation = open_conversation(runtime, tenant)
        waiting[name] = conversation.id
        if name != "Dot Evans":  # Dot's conversation stays with the assistant
            queue_conversation(runtime, conversation.id, NOW - timedelta(minutes=waited_minutes), urgent=urgent)

    html = page(signed_in, "/console/")
    positions = [html.find(name) for name in ("Bea Clarke", "Cal Davies", "Ada Brown")]
    assert -1 not in positions and positions == sorted(positions)
    assert "Dot Evans" not in html
    assert "4 h 0 min" in html and "1 h 30 min" in html and "Asked for a person" in html


def test_taking_over_from_the_queue_gives_the_conversation_to_the_officer(runtime, signed_in, officer):
    tenant = create_tenant(runtime)
    conversation = open_conversation(runtime, tenant)
    queue_conversation(runtime, conversation.id, NOW)
    post_form(signed_in, f"/console/conversations/{conversation.id}/take-over")

    taken = get_conversation(runtime, conversation.id)
    assert (taken.owner, taken.assigned_officer_id) == ("officer", officer.id)
    with transaction(runtime.sessions) as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "took_over"))
    assert (entry.officer_id, entry.conversation_id, entry.detail["from_owner"]) == (
        officer.id,
        conversation.id,
        "queued",
    )


def test_any_assistant_conversation_can_be_found_and_taken_over(runtime, signed_in, officer):
    tenant = create_tenant(runtime, name="Amara Okafor")
    conversation = open_conversation(runtime, tenant)
    for query in ("amara", "07700 900123", "+447700900123"):
        assert "Amara Okafor" in page(signed_in, f"/console/search?q={query}")
    assert "No conversation matches" in page(signed_in, "/console/search?q=Zed%25")

    post_form(signed_in, f"/console/conversations/{conversation.id}/take-over")
    taken = get_conversation(runtime, conversation.id)
    assert (taken.owner, taken.handoff_reason) == ("officer", "officer_took_over")


# The conversation page.


def test_tenant_text_is_shown_escaped_in_the_transcript(runtime, live_app, signed_in):
    tenant = create_tenant(runtime)
    tenant_says(live_app, "")
    conversation_id = _only_conversation_id(runtime)
    queue_conversation(runtime, conversation_id, NOW)
    tenant_says(live_app, "<script>alert(1)</script>")

    html = page(signed_in, f"/console/conversations/{conversation_id}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert tenant.name in html


def test_the_transcript_shows_both_directions_oldest_first_with_delivery_status(
    runtime, live_app, signed_in, simulator
):
    create_tenant(runtime)
    tenant_says(live_app, "")
    conversation_id = _only_conversation_id(runtime)
    simulator.state.wait_for_callbacks()

    html = page(signed_in, f"/console/conversations/{conversation_id}")
    assert 0 < html.find("[empty message]") < html.find("Your message arrived empty")
    assert '<span class="status status-delivered">delivered</span>' in html


@pytest.mark.parametrize("channel, address", [("sms", "+447700900123"), ("whatsapp", "whatsapp:+447700900123")])
def test_an_officer_reply_goes_to_the_tenant_on_the_conversation_channel(
    runtime, signed_in, officer, simulator, channel, address
):
    tenant = create_tenant(runtime, whatsapp=channel == "whatsapp")
    conversation = taken_conversation(runtime, signed_in, officer, tenant, channel=channel)

    answer = post_form(signed_in, f"/console/conversations/{conversation.id}/reply", {"body": "Hello, this is Sam."})
    assert answer.status_code == 302
    assert [message["body"] for message in sent_to(simulator, address)] == ["Hello, this is Sam."]
    html = page(signed_in, f"/console/conversations/{conversation.id}")
    assert "Hello, this is Sam." in html and "Sam Patel" in html
    assert "replied" in audit_actions(runtime)


def test_a_reply_needs_the_conversation_taken_over_first(runtime, signed_in, simulator):
    tenant = create_tenant(runtime)
    conversation = open_conversation(runtime, tenant)
    queue_conversation(runtime, conversation.id, NOW)

    post_form(signed_in, f"/console/conversations/{conversation.id}/reply", {"body": "Hello"})
    assert sent_to(simulator, tenant.phone) == []
    assert "Take over this conversation before replying" in page(signed_in, f"/console/conversations/{conversation.id}")


def test_a_closed_whatsapp_window_offers_no_free_text_and_sends_none(runtime, signed_in, officer, simulator):
    tenant = create_tenant(runtime, whatsapp=True)
    conversation = taken_conversation(runtime, signed_in, officer, tenant, channel="whatsapp")
    with transaction(runtime.sessions) as session:
        session.get(type(conversation), conversation.id).last_inbound_at = runtime.clock() - timedelta(hours=25)

    html = page(signed_in, f"/console/conversations/{conversation.id}")
    assert "24-hour window is closed" in html and "approved WhatsApp" in html
    assert 'name="body"' not in html
    post_form(signed_in, f"/console/conversations/{conversation.id}/reply", {"body": "Are you there?"})
    assert sent_to(simulator, "whatsapp:+447700900123") == []
    assert "only an approved template" in page(signed_in, f"/console/conversations/{conversation.id}")


def test_the_tenant_card_shows_an_open_whatsapp_window(runtime, signed_in, officer):
    tenant = create_tenant(runtime, whatsapp=True)
    conversation = taken_conversation(runtime, signed_in, officer, tenant, channel="whatsapp")
    html = page(signed_in, f"/console/conversations/{conversation.id}")
    assert "open until" in html and 'name="body"' in html


def test_ready_made_replies_are_in_the_tenants_language(runtime, signed_in, officer):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime, language="pl")
    visit = create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    html = page(signed_in, f"/console/conversations/{conversation.id}")
    assert "Nie ma za co" in html  # "thanks" in Polish
    assert "You&#39;re welcome. Have a good day." in html  # with its English beside it
    chosen = page(signed_in, f"/console/conversations/{conversation.id}?suggest=when_answer&visit={visit.id}")
    assert "wt., 14 maj, 10:00-11:00" in chosen.split('name="body"')[1].split("</textarea>")[0]


# Quick actions.


def test_confirming_a_visit_for_the_tenant_is_recorded_with_the_officer(runtime, signed_in, officer):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    answer = post_form(signed_in, f"/console/conversations/{conversation.id}/visits/{visit.id}/confirm")
    changed = get_visit(runtime, visit.id)
    assert changed.status == "confirmed"
    assert (changed.history[-1].status, changed.history[-1].actor) == ("confirmed", f"officer:{officer.id}")
    with transaction(runtime.sessions) as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "confirmed_visit"))
    assert (entry.officer_id, entry.visit_id, entry.detail) == (officer.id, visit.id, {"from_status": "booked"})
    # The reply box now holds the tenant's own "confirmed" sentence, ready to send.
    html = page(signed_in, answer.headers["Location"])
    assert "Thank you, your gas safety check on Tue 14 May, 10:00-11:00 is confirmed." in html


def test_cancelling_a_visit_for_the_tenant_drops_its_reminders(runtime, signed_in, officer):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 5, 24, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    post_form(signed_in, f"/console/conversations/{conversation.id}/visits/{visit.id}/cancel")
    assert get_visit(runtime, visit.id).status == "cancelled"
    with transaction(runtime.sessions) as session:
        statuses = set(session.scalars(select(Reminder.status).where(Reminder.visit_id == visit.id)))
    assert statuses == {"replaced"}
    assert "cancelled_visit" in audit_actions(runtime)


def test_another_tenants_visit_cannot_be_changed_from_a_conversation(runtime, signed_in, officer):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    neighbour = create_tenant(runtime, phone="+447700900456", name="Ben Ortiz")
    their_visit = create_visit(runtime, neighbour, london(2024, 5, 14, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    answer = post_form(signed_in, f"/console/conversations/{conversation.id}/visits/{their_visit.id}/cancel")
    assert answer.status_code == 404
    assert get_visit(runtime, their_visit.id).status == "booked"


def test_visit_actions_need_the_conversation_taken_over(runtime, signed_in):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    conversation = open_conversation(runtime, tenant)

    post_form(signed_in, f"/console/conversations/{conversation.id}/visits/{visit.id}/confirm")
    assert get_visit(runtime, visit.id).status == "booked"


def test_moving_a_visit_offers_free_slots_and_moves_to_the_chosen_one(runtime, signed_in, officer):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    move_page = f"/console/conversations/{conversation.id}/visits/{visit.id}/move"

    html = page(signed_in, move_page + "?day=2024-05-16")
    assert "Thu 16 May, 08:00-09:00" in html
    new_start = london(2024, 5, 16, 8).astimezone(NOW.tzinfo)
    answer = post_form(signed_in, move_page, {"start": new_start.isoformat()})

    moved = get_visit(runtime, visit.id)
    assert moved.slot_start == new_start and moved.status == "confirmed"
    assert [event.status for event in moved.history][-2:] == ["moved", "confirmed"]
    with transaction(runtime.sessions) as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "moved_visit"))
    assert entry.visit_id == visit.id and entry.officer_id == officer.id
    assert "Your gas safety check is now on Thu 16 May, 08:00-09:00" in page(signed_in, answer.headers["Location"])


def test_a_time_the_calendar_would_not_offer_is_refused(runtime, signed_in, officer):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    at_night = london(2024, 5, 16, 3).isoformat()
    post_form(signed_in, f"/console/conversations/{conversation.id}/visits/{visit.id}/move", {"start": at_night})
    assert get_visit(runtime, visit.id).slot_start == london(2024, 5, 14, 10)
    assert "moved_visit" not in audit_actions(runtime)


def test_escalating_makes_a_task_and_keeps_the_conversation_with_officers(runtime, signed_in, officer):
    tenant = create_tenant(runtime)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    post_form(signed_in, f"/console/conversations/{conversation.id}/escalate", {"note": "Possible hoarding."})
    with transaction(runtime.sessions) as session:
        task = session.scalar(select(OfficerTask).where(OfficerTask.kind == "escalated"))
    assert (task.conversation_id, task.detail, task.status) == (conversation.id, "Possible hoarding.", "open")
    assert get_conversation(runtime, conversation.id).owner == "officer"
    assert "escalated" in page(signed_in, "/console/")
    assert "escalated" in audit_actions(runtime)


def test_after_hand_back_the_assistant_answers_the_tenant_again(runtime, live_app, signed_in, officer):
    create_tenant(runtime)
    tenant_says(live_app, "")
    conversation_id = _only_conversation_id(runtime)
    post_form(signed_in, f"/console/conversations/{conversation_id}/take-over")
    assert "member of our team" in tenant_says(live_app, "")[0]  # the one holding message
    assert tenant_says(live_app, "") == []

    answer = post_form(signed_in, f"/console/conversations/{conversation_id}/hand-back")
    assert answer.headers["Location"] == "/console/"
    assert get_conversation(runtime, conversation_id).owner == "assistant"
    assert tenant_says(live_app, "") == [
        "Your message arrived empty. Please reply with a few words, for example YES to confirm your visit."
    ]
    assert "handed_back" in audit_actions(runtime)


# The command line.


def test_create_officer_stores_a_hashed_password(runtime, live_app):
    result = live_app.test_cli_runner().invoke(
        args=["create-officer", "--email", "Lee.Hart@Example.org", "--name", "Lee Hart", "--role", "specialist"],
        input="a long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    with transaction(runtime.sessions) as session:
        stored = session.scalar(select(Officer).where(Officer.email == "lee.hart@example.org"))
    assert stored.role == "specialist" and "a long enough password" not in stored.password_hash


def test_create_officer_lists_every_problem_at_once(runtime, live_app):
    result = live_app.test_cli_runner().invoke(
        args=["create-officer", "--email", "no-at-sign", "--name", " ", "--password", "short"]
    )
    assert result.exit_code != 0
    assert "email address" in result.output and "name is empty" in result.output and "12 characters" in result.output


def _only_conversation_id(runtime) -> int:
    from store.models import Conversation

    with transaction(runtime.sessions) as session:
        return session.scalar(select(Conversation.id))


def test_a_copied_session_cookie_is_worthless_after_sign_out(runtime, live_app, signed_in):
    cookie = signed_in.get_cookie("session").value
    post_form(signed_in, "/console/sign-out")
    stranger = live_app.test_client()
    stranger.set_cookie("session", cookie)
    assert stranger.get("/console/").status_code == 302


def test_guessing_passwords_is_stopped_after_five_tries(client, officer):
    for _ in range(5):
        assert sign_in(client, password="wrong password here").status_code == 401
    assert sign_in(client).status_code == 429


def test_console_pages_cannot_be_framed_or_cached(signed_in):
    headers = signed_in.get("/console/").headers
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"


def test_control_and_invisible_characters_never_reach_the_tenant(runtime, signed_in, officer, simulator):
    tenant = create_tenant(runtime)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    post_form(
        signed_in,
        f"/console/conversations/{conversation.id}/reply",
        {"body": "hi\x00\x07\x1b[31mred\u202eevil\u200b\x7f"},
    )
    post_form(signed_in, f"/console/conversations/{conversation.id}/reply", {"body": "\u200b\u200b"})
    assert [m["body"] for m in sent_to(simulator, tenant.phone)] == ["hi[31mredevil"]


@pytest.mark.parametrize(
    "path",
    ["/console/conversations/99999999999999999999999", "/console/conversations/1/visits/99999999999999999999/move"],
)
def test_absurd_ids_are_simply_not_found(signed_in, path):
    assert signed_in.get(path).status_code == 404


def test_dates_at_the_edge_of_the_calendar_are_refused_not_crashed_on(runtime, signed_in, officer):
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    base = f"/console/conversations/{conversation.id}/visits/{visit.id}/move"
    assert signed_in.get(base + "?day=9999-12-31").status_code < 500
    answer = post_form(signed_in, base, {"start": "9999-12-31T23:59:59+00:00"})
    assert answer.status_code < 500
    assert get_visit(runtime, visit.id).slot_start == london(2024, 5, 14, 10)


def test_a_line_break_in_the_sign_in_link_is_ignored(client, officer):
    token = csrf_token(client)
    answer = client.post(
        "/console/sign-in",
        data={
            "email": officer.email,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/console/\r\nSet-Cookie: x=1",
        },
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/"
