"""The specialist team's no-access cases in the console: who sees them, actions, closing, evidence downloads."""

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from service import messaging, no_access
from service.console import cases as case_pages
from service.console.auth import throttle
from service.operatives import Report
from store.db import transaction
from store.models import (
    CASE_ACTION_KINDS,
    CASE_OUTCOMES,
    AccessCase,
    AuditEntry,
    Message,
    Officer,
    Reminder,
    Visit,
    VisitEvent,
)
from tests.console_factories import (
    audit_actions,
    page,
    post_form,
    record_need,
    signed_in_client,
    taken_conversation,
)
from tests.factories import create_operative, create_tenant, create_visit, london, new_sid

NOW = london(2024, 5, 14, 12, 0)  # a Tuesday
SLOT = london(2024, 5, 14, 10, 0)
PHONE = "+447700900123"


@pytest.fixture
def frozen(runtime, monkeypatch):
    """The clock frozen after a failed visit; the policy opens a case at the first counted attempt."""
    throttle.forget()
    runtime.clock = lambda: NOW
    monkeypatch.setitem(runtime.settings.raw, "no_access_policy", {"case_after_attempts": 1})
    create_operative(runtime)
    return runtime


def browser(app, runtime, role, email="robin.hale@example.org", name="Robin Hale"):
    return signed_in_client(app, runtime, role, email, name)


@pytest.fixture
def specialist(frozen, live_app):
    return browser(live_app, frozen, "specialist")


def open_case(runtime, tenant=None, reference="GAS-1001"):
    """A tenant whose confirmed, reminded gas check failed at the door this morning: a case, by the policy."""
    tenant = tenant or create_tenant(runtime)
    visit = create_visit(runtime, tenant, SLOT, reference=reference, status="confirmed", now=SLOT - timedelta(days=14))
    with transaction(runtime.sessions) as session:
        conversation = messaging.conversation_for(session, tenant.phone, "sms")
        message = messaging.outbound(
            conversation,
            "Your gas safety check is on Tue 14 May",
            visit_id=visit.id,
            template_key="reminder.seven_days",
        )
        message.status, message.state, message.twilio_sid = "delivered", "handed_over", new_sid()
        session.add(message)
        session.add(
            Message(
                direction="inbound",
                channel="sms",
                conversation_id=conversation.id,
                tenant_id=tenant.id,
                from_address=tenant.phone,
                to_address="+441632960001",
                body="I work shifts, mornings are hard",
                status="received",
                state="answered",
            )
        )
        session.flush()
        reminder = session.scalar(select(Reminder).where(Reminder.visit_id == visit.id, Reminder.kind == "seven_days"))
        reminder.status, reminder.sent_at, reminder.message_id = "sent", SLOT - timedelta(days=7), message.id
        failed = session.get(Visit, visit.id)
        failed.status = "no_access"
        report = Report("no_access", note="No answer, card left", card_left=True)
        attempt = no_access.record_attempt(session, failed, report, "operative:Van7", NOW, runtime.settings, True)
        return attempt.case_id, visit, tenant


# Who sees the cases.


def test_only_specialists_admins_and_safeguarding_officers_work_the_case_queue(frozen, live_app):
    case_id, visit, tenant = open_case(frozen)
    officer = browser(live_app, frozen, "officer", "sam.patel@example.org", "Sam Patel")
    for path in ("/console/cases", f"/console/cases/{case_id}", f"/console/cases/{case_id}/evidence.csv",
                 f"/console/visits/{visit.id}/evidence.pdf"):  # fmt: skip
        assert officer.get(path).status_code == 403, path
    assert "No-access cases" not in page(officer, "/console/")

    for role, email in (("specialist", "a@example.org"), ("admin", "b@example.org"), ("safeguarding", "c@example.org")):
        client = browser(live_app, frozen, role, email, role.title())
        queue = page(client, "/console/cases")
        assert "Amara Okafor" in queue and f'data-case="{case_id}"' in queue, role
        assert "No-access cases" in page(client, "/console/")


def test_a_tenant_with_a_restricted_note_has_cases_only_safeguarding_officers_see(frozen, live_app, specialist):
    case_id, visit, tenant = open_case(frozen)
    record_need(frozen, tenant, "discreet", "my partner checks my phone")
    assert "Amara Okafor" not in page(specialist, "/console/cases")
    assert specialist.get(f"/console/cases/{case_id}").status_code == 404
    assert specialist.get(f"/console/visits/{visit.id}/evidence.csv").status_code == 404
    assert specialist.get(f"/console/cases/{case_id}/evidence.pdf").status_code == 404

    safeguarding = browser(live_app, frozen, "safeguarding", "kim.reid@example.org", "Kim Reid")
    assert "Amara Okafor" in page(safeguarding, f"/console/cases/{case_id}")
    assert safeguarding.get(f"/console/visits/{visit.id}/evidence.csv").status_code == 200


# One case.


def test_the_case_page_shows_the_attempts_the_visits_and_every_message_with_its_status(frozen, specialist):
    case_id, visit, tenant = open_case(frozen)
    html = page(specialist, f"/console/cases/{case_id}")
    assert f"No-access case {case_id}: gas safety check" in html
    attempts = html[html.index('class="card attempts"') : html.index('class="card record"')]
    assert "attempt 1" in attempts and "No answer, card left" in attempts and "operative:Van7" in attempts
    history = html[html.index('class="card record"') :]
    assert "Your gas safety check is on Tue 14 May" in history and "sms, delivered" in history
    assert "I work shifts, mornings are hard" in history and "received" in history
    assert "GAS-1001" in html and f"/console/visits/{visit.id}/evidence.pdf" in html


def test_recording_an_action_keeps_the_note_and_is_audited(frozen, specialist):
    case_id, _, _ = open_case(frozen)
    nothing = post_form(specialist, f"/console/cases/{case_id}/actions", {"kind": "phone_call", "note": ""})
    assert nothing.status_code == 302
    answer = post_form(
        specialist,
        f"/console/cases/{case_id}/actions",
        {"kind": "phone_call", "note": "Rang, no answer; left voicemail"},
    )
    assert answer.status_code == 302
    html = page(specialist, f"/console/cases/{case_id}")
    assert "Rang, no answer; left voicemail" in html and "phone call" in html
    with transaction(frozen.sessions) as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "recorded_case_action"))
        assert entry.detail["case_id"] == case_id and entry.detail["kind"] == "phone_call"
        assert entry.tenant_id is not None
        assert "voicemail" not in str(entry.detail), "the note stays in the case, not the audit trail"


def test_a_letter_recorded_on_a_case_is_written_notice_for_its_next_visit(frozen, specialist):
    case_id, visit, tenant = open_case(frozen)
    later = create_visit(frozen, tenant, SLOT + timedelta(days=14), reference="GAS-1002", now=NOW)
    post_form(specialist, f"/console/cases/{case_id}/actions", {"kind": "letter_sent", "note": "Recorded delivery"})
    with transaction(frozen.sessions) as session:
        letter = session.scalar(select(VisitEvent).where(VisitEvent.status == "letter_sent"))
        assert (letter.visit_id, letter.new_slot_start, letter.note) == (
            later.id,
            later.slot_start,
            "Recorded delivery",
        )


def test_closing_a_case_needs_an_outcome_from_the_list(frozen, specialist):
    case_id, _, _ = open_case(frozen)
    for outcome in ("", "gave up"):
        post_form(specialist, f"/console/cases/{case_id}/close", {"outcome": outcome, "note": "Spoke to them"})
        assert case_status(frozen, case_id) == ("open", None)
    assert "Choose how the case ended before closing it." in page(specialist, f"/console/cases/{case_id}")

    post_form(
        specialist, f"/console/cases/{case_id}/close", {"outcome": "access_gained", "note": "Booked with daughter"}
    )
    assert case_status(frozen, case_id) == ("closed", "access_gained")
    assert "closed_case" in audit_actions(frozen)
    closed = page(specialist, "/console/cases?status=closed")
    assert "Amara Okafor" in closed and "Access gained" in closed
    assert "Amara Okafor" not in page(specialist, "/console/cases")

    post_form(specialist, f"/console/cases/{case_id}/actions", {"kind": "note", "note": "late note"})
    assert "late note" not in page(specialist, f"/console/cases/{case_id}")


def case_status(runtime, case_id):
    with transaction(runtime.sessions) as session:
        case = session.get(AccessCase, case_id)
        return case.status, case.outcome


def test_the_form_offers_every_action_kind_and_outcome_the_store_accepts():
    assert set(case_pages.ACTION_KINDS) == set(CASE_ACTION_KINDS)
    assert set(case_pages.OUTCOMES) == set(CASE_OUTCOMES)


# Evidence downloads.


def test_evidence_downloads_for_a_case_and_a_visit_are_files_and_are_audited(frozen, specialist):
    case_id, visit, tenant = open_case(frozen)

    csv_answer = specialist.get(f"/console/cases/{case_id}/evidence.csv")
    assert csv_answer.status_code == 200 and csv_answer.mimetype == "text/csv"
    assert csv_answer.headers["Content-Disposition"] == f'attachment; filename="evidence-case-{case_id}.csv"'
    text = csv_answer.get_data().decode("utf-8-sig")
    assert text.startswith("at_utc,at_london,what,visit,by,channel,delivery_status,text,detail\r\n")
    assert "Case opened" in text and "I work shifts, mornings are hard" in text

    pdf_answer = specialist.get(f"/console/visits/{visit.id}/evidence.pdf")
    assert pdf_answer.status_code == 200 and pdf_answer.mimetype == "application/pdf"
    assert pdf_answer.headers["Content-Disposition"] == 'attachment; filename="evidence-visit-GAS-1001.pdf"'
    pdf_text = PdfReader(io.BytesIO(pdf_answer.get_data())).pages[0].extract_text()
    assert "GAS-1001" in pdf_text and "No answer, card left" in pdf_text

    assert specialist.get(f"/console/visits/{visit.id}/evidence.doc").status_code == 404
    with transaction(frozen.sessions) as session:
        exports = session.scalars(select(AuditEntry).where(AuditEntry.action == "exported_evidence")).all()
        assert [entry.detail for entry in exports] == [
            {"case_id": case_id, "format": "csv"},
            {"visit_id": visit.id, "format": "pdf"},
        ]


# Letters recorded from a conversation.


def test_an_officer_records_a_letter_against_a_booked_visit(frozen, live_app):
    tenant = create_tenant(frozen)
    visit = create_visit(frozen, tenant, SLOT + timedelta(days=7), reference="GAS-1002", now=NOW)
    client = browser(live_app, frozen, "officer", "sam.patel@example.org", "Sam Patel")
    with transaction(frozen.sessions) as session:
        officer = session.scalar(select(Officer))
    conversation = taken_conversation(frozen, client, officer, tenant)
    path = f"/console/conversations/{conversation.id}/visits/{visit.id}/letter"

    post_form(client, path, {"sent_on": "2024-05-20", "note": "In the future"})
    post_form(client, path, {"sent_on": "2024-05-10", "note": "First-class post"})
    with transaction(frozen.sessions) as session:
        [letter] = session.scalars(select(VisitEvent).where(VisitEvent.status == "letter_sent")).all()
        assert (letter.at, letter.note, letter.new_slot_start) == (
            london(2024, 5, 10, 12),
            "First-class post",
            visit.slot_start,
        )
    assert audit_actions(frozen)[-1] == "recorded_letter"
    assert "Letter sent to the tenant" in page(client, f"/console/conversations/{conversation.id}")
