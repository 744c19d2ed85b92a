"""The tenant card and the quick actions about a tenant's needs, and who may see safeguarding cases."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from service import adjustments
from service.console import access
from service.console.card import tenant_card
from service.console.display import NEED_KINDS
from service.visits import replan_for_tenant
from store.db import transaction
from store.models import (
    Adjustment,
    AuditEntry,
    Conversation,
    Message,
    Officer,
    OfficerTask,
    Reminder,
    Tenant,
    Visit,
)
from tests.console_factories import (
    add_visit_event,
    audit_actions,
    create_officer,
    get_conversation,
    open_conversation,
    page,
    post_form,
    queue_conversation,
    record_need,
    sign_in,
    signed_in_client,
    taken_conversation,
)
from tests.factories import create_operative, create_tenant, create_visit, london

NOW = london(2024, 5, 13, 10, 0)  # a Monday
ERASED = "(erased at the tenant's request)"
NEUTRAL = "A safeguarding arrangement is in place. Speak to the safeguarding team."
DISCREET_WORDS = "My ex checks my phone, only text me in the mornings"
DISCREET_BRIEFING = adjustments.KINDS["discreet"].briefing


@pytest.fixture
def officer(runtime):
    runtime.clock = lambda: NOW
    return create_officer(runtime)


@pytest.fixture
def signed_in(client, officer):
    assert sign_in(client).status_code == 302
    return client


@pytest.fixture
def safeguarding(runtime, live_app):
    """A safeguarding officer's browser, and the officer."""
    runtime.clock = lambda: NOW
    client = signed_in_client(live_app, runtime, "safeguarding", "kim.reid@example.org", "Kim Reid")
    with transaction(runtime.sessions) as session:
        kim = session.scalar(select(Officer).where(Officer.email == "kim.reid@example.org"))
    return client, kim


def conversation_page(client, conversation) -> str:
    return page(client, f"/console/conversations/{conversation.id}")


def needs_of(runtime, tenant) -> list[Adjustment]:
    with transaction(runtime.sessions) as session:
        return list(
            session.scalars(select(Adjustment).where(Adjustment.tenant_id == tenant.id).order_by(Adjustment.id))
        )


def audit_entry(runtime, action: str) -> AuditEntry:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(AuditEntry).where(AuditEntry.action == action))


def pending_reminder_kinds(runtime, visit) -> set[str]:
    with transaction(runtime.sessions) as session:
        return set(
            session.scalars(select(Reminder.kind).where(Reminder.visit_id == visit.id, Reminder.status == "pending"))
        )


def section(html: str, css_class: str) -> str:
    """The text of one card on the page, so an assertion cannot pass on words elsewhere."""
    start = html.index(f'<section class="card {css_class}"')
    return html[start : html.index("</section>", start)]


# The tenant card.


def test_the_card_shows_each_need_in_plain_english_with_the_tenants_words_who_and_consent(runtime, signed_in, officer):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    record_need(runtime, tenant, "no_calls", "I'm deaf, please don't ring me", at=NOW - timedelta(days=1))
    record_need(runtime, tenant, "interpreter", "Tigrinya please", recorded_by=f"officer:{officer.id}")
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    needs = section(conversation_page(signed_in, conversation), "needs")
    assert "Text only: no phone calls" in needs and "Needs an interpreter" in needs
    assert "I&#39;m deaf, please don&#39;t ring me" in needs and "Tigrinya please" in needs
    assert "the assistant, Sun 12 May 2024, 10:00" in needs
    assert "Sam Patel, Mon 13 May 2024, 10:00" in needs
    assert "Tenant agreed by text, Sun 12 May 2024, 10:00" in needs


def test_each_open_visit_shows_the_operatives_briefing(runtime, signed_in, officer):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    upcoming = create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    past = create_visit(runtime, tenant, london(2024, 5, 6, 10), now=NOW, status="completed")
    record_need(runtime, tenant, "extra_time", "I use a walking frame")
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    visits = section(conversation_page(signed_in, conversation), "visits")
    upcoming_part = visits[visits.index(f'id="visit-{upcoming.id}"') :]
    assert "Operative briefing" in upcoming_part and "Wait at least 5 minutes at the door" in upcoming_part
    past_part = visits[visits.index(f'id="visit-{past.id}"') : visits.index(f'id="visit-{upcoming.id}"')]
    assert "Operative briefing" not in past_part
    # The diagnosis never reaches the briefing, only what to do.
    assert "walking frame" not in visits


def test_a_visit_without_needs_gets_a_plain_briefing(runtime, signed_in, officer):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    html = conversation_page(signed_in, conversation)
    assert "Nothing beyond the usual" in section(html, "visits")
    assert "No needs recorded." in section(html, "needs")


def test_visit_history_shows_access_attempts_by_name_and_escaped(runtime, signed_in, officer):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 5, 10, 10), now=NOW - timedelta(days=5))
    add_visit_event(runtime, visit, "no_access", actor=f"officer:{officer.id}", note="<b>Card</b> left at the door")
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    visits = section(conversation_page(signed_in, conversation), "visits")
    assert "History and access attempts" in visits and "no access 1×" in visits
    assert '<details class="access" open>' in visits
    assert "No access: nobody let the operative in, by Sam Patel" in visits
    assert "Booked, by the booking system" in visits
    assert "&lt;b&gt;Card&lt;/b&gt; left at the door" in visits and "<b>Card</b>" not in visits


def test_the_card_says_whether_the_number_is_verified(runtime, signed_in, officer):
    checked = create_tenant(runtime)
    unchecked = create_tenant(runtime, phone="+447700900456", name="Ben Ortiz", verified=False)
    checked_page = section(conversation_page(signed_in, open_conversation(runtime, checked)), "tenant")
    assert "badge-verified" in checked_page and "on Tue 02 Jan 2024" in checked_page
    assert "Mark number verified" not in checked_page

    conversation = taken_conversation(runtime, signed_in, officer, unchecked)
    unchecked_page = section(conversation_page(signed_in, conversation), "tenant")
    assert "not verified" in unchecked_page and "nothing about a visit is sent to it" in unchecked_page
    assert "Mark number verified" in unchecked_page


def test_doorstep_codes_are_shown_for_visits_in_the_next_24_hours_only(runtime, signed_in, officer):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    tomorrow = create_visit(runtime, tenant, london(2024, 5, 14, 9), now=NOW)
    later = create_visit(runtime, tenant, london(2024, 5, 16, 9), now=NOW)
    cancelled = create_visit(runtime, tenant, london(2024, 5, 13, 15), now=NOW, status="cancelled")
    with transaction(runtime.sessions) as session:
        for visit, code in ((tomorrow, "4821"), (later, "7305"), (cancelled, "1199")):
            session.get(Visit, visit.id).doorstep_code = code
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    codes = section(conversation_page(signed_in, conversation), "doorstep")
    assert '<strong class="code">4821</strong>' in codes and "Tue 14 May, 09:00" in codes
    assert "7305" not in codes and "1199" not in codes


def test_no_doorstep_card_without_a_visit_soon(runtime, signed_in, officer):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 16, 9), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    assert "Doorstep codes" not in conversation_page(signed_in, conversation)


def test_every_kind_of_need_has_a_plain_english_name():
    assert set(NEED_KINDS) == set(adjustments.KINDS)


# Restricted notes and safeguarding cases.


def test_a_safeguarding_officer_sees_a_restricted_note_in_full(runtime, safeguarding):
    client, _ = safeguarding
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    record_need(runtime, tenant, "discreet", DISCREET_WORDS)
    conversation = open_conversation(runtime, tenant)

    html = conversation_page(client, conversation)
    assert "Discreet contact (safeguarding)" in html and "safeguarding only" in html
    assert DISCREET_WORDS in html
    assert DISCREET_BRIEFING in section(html, "visits")
    assert NEUTRAL not in html


@pytest.mark.parametrize("role", ["officer", "specialist", "admin"])
def test_a_tenant_with_a_restricted_note_is_invisible_to_other_roles(runtime, live_app, role):
    runtime.clock = lambda: NOW
    other = signed_in_client(live_app, runtime, role, "lee.hart@example.org", "Lee Hart")
    tenant = create_tenant(runtime, name="Amara Okafor")
    record_need(runtime, tenant, "discreet", DISCREET_WORDS)
    conversation = open_conversation(runtime, tenant)
    queue_conversation(runtime, conversation.id, NOW, reason="adjustment")
    base = f"/console/conversations/{conversation.id}"

    assert "Amara Okafor" not in page(other, "/console/")
    assert "Amara Okafor" not in page(other, "/console/search?q=amara")
    assert "Amara Okafor" not in page(other, "/console/search?q=07700900123")
    assert other.get(base).status_code == 404
    assert post_form(other, f"{base}/take-over").status_code == 404
    assert post_form(other, f"{base}/reply", {"body": "Hello"}).status_code == 404
    assert post_form(other, f"{base}/needs/erase").status_code == 404
    assert get_conversation(runtime, conversation.id).owner == "queued"
    assert [need.detail for need in needs_of(runtime, tenant)] == [DISCREET_WORDS]


def test_a_safeguarding_handoff_is_seen_only_by_safeguarding_officers(runtime, live_app, signed_in, safeguarding):
    client, _ = safeguarding
    tenant = create_tenant(runtime, name="Amara Okafor")
    neighbour = create_tenant(runtime, phone="+447700900456", name="Ben Ortiz")
    conversation = open_conversation(runtime, tenant)
    queue_conversation(runtime, conversation.id, NOW, reason="safeguarding")
    queue_conversation(runtime, open_conversation(runtime, neighbour).id, NOW)

    queue = page(signed_in, "/console/")
    assert "Ben Ortiz" in queue and "Amara Okafor" not in queue
    assert signed_in.get(f"/console/conversations/{conversation.id}").status_code == 404

    their_queue = page(client, "/console/")
    assert "Amara Okafor" in their_queue and "Ben Ortiz" in their_queue
    assert "Amara Okafor" in page(client, "/console/search?q=amara")
    post_form(client, f"/console/conversations/{conversation.id}/take-over")
    assert get_conversation(runtime, conversation.id).owner == "officer"


def test_other_roles_get_a_neutral_line_instead_of_a_restricted_note(runtime):
    """The conversation is hidden from them anyway; should a card be built for them, it still says nothing."""
    runtime.clock = lambda: NOW
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 14, 10), now=NOW)
    record_need(runtime, tenant, "discreet", DISCREET_WORDS)
    record_need(runtime, tenant, "no_calls", "I'm deaf")
    with transaction(runtime.sessions) as session:
        visits = list(session.scalars(select(Visit).where(Visit.tenant_id == tenant.id)))
        for role in ("officer", "specialist", "admin"):
            card = tenant_card(session, session.get(Tenant, tenant.id), visits, role, NOW)
            assert [need.kind for need in card.needs] == ["no_calls"] and card.restricted_hidden
            [briefing] = card.briefings.values()
            assert NEUTRAL in briefing and DISCREET_BRIEFING not in briefing
            assert any("Knock loudly" in line for line in briefing)
        card = tenant_card(session, session.get(Tenant, tenant.id), visits, "safeguarding", NOW)
        assert [need.kind for need in card.needs] == ["discreet", "no_calls"] and not card.restricted_hidden
    assert access.briefing_for_role("officer", [DISCREET_BRIEFING]) == [NEUTRAL]


# Recording a need.


def test_recording_a_need_keeps_the_tenants_words_with_consent_and_audits_ids_only(runtime, signed_in, officer):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 5, 24, 10), now=NOW)
    assert "morning_of" not in pending_reminder_kinds(runtime, visit)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    words = "I forget things since my stroke, please remind me on the day"

    answer = post_form(
        signed_in,
        f"/console/conversations/{conversation.id}/needs",
        {"kind": "extra_reminders", "detail": words, "consent": "yes", "consent_how": "phone"},
    )
    assert answer.status_code == 302

    [need] = needs_of(runtime, tenant)
    assert (need.kind, need.detail, need.recorded_by) == ("extra_reminders", words, f"officer:{officer.id}")
    assert (need.special_category, need.restricted) == (True, False)
    assert (need.consent_at, need.consent_how) == (NOW, "tenant agreed on a phone call")
    # The reminder plan follows the need at once.
    assert "morning_of" in pending_reminder_kinds(runtime, visit)
    entry = audit_entry(runtime, "recorded_adjustment")
    assert (entry.officer_id, entry.conversation_id, entry.tenant_id) == (officer.id, conversation.id, tenant.id)
    assert entry.detail == {"adjustment_id": need.id, "kind": "extra_reminders", "consent": True}
    html = page(signed_in, answer.headers["Location"])
    assert "Noted: Wants extra reminders." in html and words in section(html, "needs")
    assert words not in html.split('<section class="card needs"')[0]  # not in the flash or elsewhere above


def test_a_health_need_without_the_tenants_consent_is_not_kept(runtime, signed_in, officer):
    tenant = create_tenant(runtime)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    path = f"/console/conversations/{conversation.id}/needs"

    answer = post_form(signed_in, path, {"kind": "no_calls", "detail": "I am deaf", "consent_how": "phone"})
    assert needs_of(runtime, tenant) == []
    assert "it is kept only if the tenant agreed" in page(signed_in, answer.headers["Location"])
    post_form(signed_in, path, {"kind": "no_calls", "detail": "I am deaf", "consent": "yes", "consent_how": "fax"})
    assert needs_of(runtime, tenant) == []
    assert "recorded_adjustment" not in audit_actions(runtime)


def test_a_need_that_is_not_health_information_needs_no_consent(runtime, signed_in, officer):
    tenant = create_tenant(runtime)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    post_form(signed_in, f"/console/conversations/{conversation.id}/needs", {"kind": "interpreter", "detail": "Farsi"})
    [need] = needs_of(runtime, tenant)
    assert (need.kind, need.special_category, need.consent_at, need.consent_how) == ("interpreter", False, None, None)
    assert "Not needed: not health or safeguarding information" in conversation_page(signed_in, conversation)


@pytest.mark.parametrize(
    "form, problem",
    [
        ({"kind": "telepathy", "detail": "x"}, "Choose what kind of need this is."),
        ({"kind": "interpreter", "detail": "  \u200b "}, "Write the tenant&#39;s words"),
        ({"kind": "interpreter", "detail": "x" * 1001}, "Write the tenant&#39;s words"),
    ],
)
def test_a_need_without_a_kind_or_words_is_refused(runtime, signed_in, officer, form, problem):
    tenant = create_tenant(runtime)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    answer = post_form(signed_in, f"/console/conversations/{conversation.id}/needs", form)
    assert problem in page(signed_in, answer.headers["Location"])
    assert needs_of(runtime, tenant) == []


def test_only_safeguarding_officers_may_record_discreet_contact(runtime, signed_in, officer, safeguarding):
    tenant = create_tenant(runtime)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    form = {"kind": "discreet", "detail": DISCREET_WORDS, "consent": "yes", "consent_how": "phone"}

    assert 'value="discreet"' not in conversation_page(signed_in, conversation)
    assert post_form(signed_in, f"/console/conversations/{conversation.id}/needs", form).status_code == 403
    assert needs_of(runtime, tenant) == []

    client, kim = safeguarding
    post_form(client, f"/console/conversations/{conversation.id}/take-over")
    assert 'value="discreet"' in conversation_page(client, conversation)
    post_form(client, f"/console/conversations/{conversation.id}/needs", form)
    [need] = needs_of(runtime, tenant)
    assert (need.kind, need.restricted, need.recorded_by) == ("discreet", True, f"officer:{kim.id}")
    assert need.settings == {"channel": "sms"}
    # From now on the case is the safeguarding team's alone.
    assert signed_in.get(f"/console/conversations/{conversation.id}").status_code == 404
    assert DISCREET_WORDS in conversation_page(client, conversation)


def test_needs_can_only_be_recorded_on_a_conversation_taken_over(runtime, signed_in):
    tenant = create_tenant(runtime)
    conversation = open_conversation(runtime, tenant)
    form = {"kind": "interpreter", "detail": "Farsi"}
    post_form(signed_in, f"/console/conversations/{conversation.id}/needs", form)
    assert needs_of(runtime, tenant) == []
    assert "Record a need" not in conversation_page(signed_in, conversation)


def test_recording_a_need_without_the_csrf_token_is_refused(runtime, signed_in, officer):
    tenant = create_tenant(runtime)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    answer = signed_in.post(
        f"/console/conversations/{conversation.id}/needs", data={"kind": "interpreter", "detail": "Farsi"}
    )
    assert answer.status_code == 400
    assert needs_of(runtime, tenant) == []


# Removing and erasing.


def test_removing_a_need_deletes_it_blanks_its_message_and_is_audited(runtime, signed_in, officer):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 5, 24, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    told_in = _tenant_message(runtime, conversation, "I forget things, remind me on the day")
    need = record_need(runtime, tenant, "extra_reminders", "I forget things", message_id=told_in)
    kept = record_need(runtime, tenant, "interpreter", "Farsi")
    _replan(runtime, tenant)
    assert "morning_of" in pending_reminder_kinds(runtime, visit)

    post_form(signed_in, f"/console/conversations/{conversation.id}/needs/{need.id}/remove")
    assert [each.id for each in needs_of(runtime, tenant)] == [kept.id]
    assert _message_body(runtime, told_in) == ERASED
    # The reminder the need added goes with it.
    assert "morning_of" not in pending_reminder_kinds(runtime, visit)
    entry = audit_entry(runtime, "removed_adjustment")
    assert entry.detail == {"adjustment_id": need.id, "kind": "extra_reminders"}
    html = conversation_page(signed_in, conversation)
    assert "I forget things" not in html and "Farsi" in section(html, "needs")


def test_another_tenants_need_cannot_be_removed_from_a_conversation(runtime, signed_in, officer):
    tenant = create_tenant(runtime)
    neighbour = create_tenant(runtime, phone="+447700900456", name="Ben Ortiz")
    theirs = record_need(runtime, neighbour, "interpreter", "Farsi")
    conversation = taken_conversation(runtime, signed_in, officer, tenant)

    answer = post_form(signed_in, f"/console/conversations/{conversation.id}/needs/{theirs.id}/remove")
    assert answer.status_code == 404
    assert [each.id for each in needs_of(runtime, neighbour)] == [theirs.id]


def test_only_a_safeguarding_officer_removes_discreet_contact(runtime, signed_in, officer, safeguarding):
    tenant = create_tenant(runtime)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    discreet = record_need(runtime, tenant, "discreet", DISCREET_WORDS)

    assert post_form(signed_in, f"/console/conversations/{conversation.id}/needs/{discreet.id}/remove").status_code == (
        404
    )
    assert [each.id for each in needs_of(runtime, tenant)] == [discreet.id]

    client, _ = safeguarding
    post_form(client, f"/console/conversations/{conversation.id}/take-over")
    post_form(client, f"/console/conversations/{conversation.id}/needs/{discreet.id}/remove")
    assert needs_of(runtime, tenant) == []
    assert audit_entry(runtime, "removed_adjustment").detail == {"adjustment_id": discreet.id, "kind": "discreet"}


def test_erasing_deletes_every_need_the_words_and_the_task_notes(runtime, signed_in, officer):
    create_operative(runtime)
    tenant = create_tenant(runtime)
    visit = create_visit(runtime, tenant, london(2024, 5, 24, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    told_in = _tenant_message(runtime, conversation, "Please remind me on the day, I have dementia")
    record_need(runtime, tenant, "extra_reminders", "I have dementia", message_id=told_in)
    record_need(runtime, tenant, "interpreter", "Farsi")
    _replan(runtime, tenant)
    with transaction(runtime.sessions) as session:
        session.add(OfficerTask(kind="adjustment", tenant_id=tenant.id, detail="Tenant has dementia"))

    answer = post_form(signed_in, f"/console/conversations/{conversation.id}/needs/erase")
    assert needs_of(runtime, tenant) == []
    assert _message_body(runtime, told_in) == ERASED
    assert "morning_of" not in pending_reminder_kinds(runtime, visit)
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(OfficerTask.detail)) == ERASED
    assert audit_entry(runtime, "erased_needs").detail == {"count": 2}
    html = page(signed_in, answer.headers["Location"])
    assert "Erased 2 notes" in html and "dementia" not in html


# The number's check.


def test_an_officer_marks_the_number_verified(runtime, signed_in, officer):
    tenant = create_tenant(runtime, verified=False)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    with transaction(runtime.sessions) as session:
        session.get(Conversation, conversation.id).state = {"identity_check": {"asked_at": NOW.isoformat(), "tries": 1}}

    answer = post_form(signed_in, f"/console/conversations/{conversation.id}/verify-number")
    with transaction(runtime.sessions) as session:
        assert session.get(Tenant, tenant.id).phone_verified_at == NOW
        assert session.get(Conversation, conversation.id).state["identity_check"] is None
    entry = audit_entry(runtime, "verified_number")
    assert (entry.officer_id, entry.tenant_id) == (officer.id, tenant.id)
    card = section(page(signed_in, answer.headers["Location"]), "tenant")
    assert "badge-verified" in card and "Mark number verified" not in card


def test_marking_a_number_verified_needs_the_conversation_taken_over(runtime, signed_in):
    tenant = create_tenant(runtime, verified=False)
    conversation = open_conversation(runtime, tenant)
    post_form(signed_in, f"/console/conversations/{conversation.id}/verify-number")
    with transaction(runtime.sessions) as session:
        assert session.get(Tenant, tenant.id).phone_verified_at is None
    assert "verified_number" not in audit_actions(runtime)


# Special-category data never reaches a log.


def test_the_tenants_words_never_reach_a_log_when_recorded_shown_removed_and_erased(
    runtime, signed_in, officer, caplog
):
    caplog.set_level(logging.DEBUG)
    words = "Zebrafinch-7731: I have epilepsy and flashing lights set it off"
    create_operative(runtime)
    tenant = create_tenant(runtime)
    create_visit(runtime, tenant, london(2024, 5, 24, 10), now=NOW)
    conversation = taken_conversation(runtime, signed_in, officer, tenant)
    base = f"/console/conversations/{conversation.id}"

    post_form(signed_in, f"{base}/needs", {"kind": "other", "detail": words, "consent": "yes", "consent_how": "phone"})
    [need] = needs_of(runtime, tenant)
    assert need.detail == words
    assert words in conversation_page(signed_in, conversation)
    post_form(signed_in, f"{base}/needs/{need.id}/remove")
    post_form(signed_in, f"{base}/needs", {"kind": "other", "detail": words, "consent": "yes", "consent_how": "phone"})
    post_form(signed_in, f"{base}/needs/erase")
    assert needs_of(runtime, tenant) == []

    assert caplog.records, "nothing was logged, so the test would prove nothing"
    assert any(record.name.startswith("service.console") for record in caplog.records)
    for record in caplog.records:
        assert "Zebrafinch" not in record.getMessage(), record.name
        assert "Zebrafinch" not in repr(record.__dict__), record.name


def _replan(runtime, tenant) -> None:
    """As the assistant does after keeping a need: the reminder plans follow it."""
    with transaction(runtime.sessions) as session:
        replan_for_tenant(session, tenant.id, runtime.settings, NOW)


def _tenant_message(runtime, conversation, body: str) -> int:
    with transaction(runtime.sessions) as session:
        message = Message(
            direction="inbound",
            channel="sms",
            conversation_id=conversation.id,
            tenant_id=conversation.tenant_id,
            from_address=conversation.address,
            to_address="+441632960001",
            body=body,
            status="received",
            state="done",
        )
        session.add(message)
        session.flush()
        return message.id


def _message_body(runtime, message_id: int) -> str:
    with transaction(runtime.sessions) as session:
        return session.get(Message, message_id).body
