"""The console's task list: every promise that a person will act, where officers can see and close it."""

from sqlalchemy import select

from service import adjustments
from store.db import transaction
from store.models import AuditEntry, OfficerTask
from tests.console_factories import create_officer, page, post_form, sign_in
from tests.factories import create_tenant


def add_task(runtime, tenant, kind, detail):
    with transaction(runtime.sessions) as session:
        task = OfficerTask(kind=kind, tenant_id=tenant.id, detail=detail)
        session.add(task)
    return task


def test_open_tasks_are_listed_urgent_first_and_an_officer_can_mark_one_done(runtime, live_app):
    officer = create_officer(runtime)
    client = live_app.test_client()
    sign_in(client)
    tenant = create_tenant(runtime)
    call = add_task(runtime, tenant, "call_before_visit", "Ring Amara the day before her visit.")
    stranger = add_task(runtime, tenant, "unexpected_caller", "Someone at the door; nothing booked.")

    html = page(client, "/console/tasks")
    assert "Phone the tenant the day before their visit" in html and "Amara Okafor" in html
    assert html.index(f'data-task="{stranger.id}"') < html.index(f'data-task="{call.id}"'), "urgent first"

    post_form(client, f"/console/tasks/{call.id}/done")
    assert f'data-task="{call.id}"' not in page(client, "/console/tasks")
    with transaction(runtime.sessions) as session:
        assert session.get(OfficerTask, call.id).status == "done"
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "task_done"))
        assert entry.officer_id == officer.id and entry.detail == {"task_id": call.id, "kind": "call_before_visit"}


def test_safeguarding_tasks_are_seen_only_by_safeguarding_officers(runtime, live_app):
    create_officer(runtime)
    create_officer(runtime, email="jo.reed@example.org", name="Jo Reed", role="safeguarding")
    tenant = create_tenant(runtime)
    with transaction(runtime.sessions) as session:
        adjustments.record(
            session,
            tenant.id,
            ["discreet"],
            "my partner reads my texts",
            recorded_by="assistant",
            consent_how="tenant agreed by text",
            now=runtime.clock(),
        )
    task = add_task(runtime, tenant, "safeguarding", "Discreet contact agreed by text.")
    reminder_call = add_task(runtime, tenant, "call_before_visit", "Ring the tenant the day before.")

    officer_client = live_app.test_client()
    sign_in(officer_client)
    html = page(officer_client, "/console/tasks")
    assert f'data-task="{task.id}"' not in html and f'data-task="{reminder_call.id}"' not in html
    post_form(officer_client, f"/console/tasks/{task.id}/done")
    with transaction(runtime.sessions) as session:
        assert session.get(OfficerTask, task.id).status == "open"

    safeguarding_client = live_app.test_client()
    sign_in(safeguarding_client, email="jo.reed@example.org")
    assert f'data-task="{task.id}"' in page(safeguarding_client, "/console/tasks")


def test_the_audit_trail_leaves_out_tenants_in_discreet_contact_for_admins(runtime, live_app):
    from service.console import audit

    admin = create_officer(runtime, email="ada.king@example.org", name="Ada King", role="admin")
    tenant = create_tenant(runtime)
    other = create_tenant(runtime, phone="+447700900124", name="Kofi Mensah")
    with transaction(runtime.sessions) as session:
        adjustments.record(
            session,
            tenant.id,
            ["discreet"],
            "my partner reads my texts",
            recorded_by="assistant",
            consent_how="tenant agreed by text",
            now=runtime.clock(),
        )
        audit.record(
            session, admin.id, "recorded_need", runtime.clock(), tenant_id=tenant.id, detail={"kind": "discreet"}
        )
        audit.record(session, admin.id, "marked_verified", runtime.clock(), tenant_id=other.id)

    client = live_app.test_client()
    sign_in(client, email="ada.king@example.org")
    html = page(client, "/console/audit")
    assert "discreet" not in html
    assert "marked_verified" in html or "Marked" in html or "verified" in html


def test_a_task_with_no_conversation_about_a_safeguarding_tenant_is_hidden_from_officers(runtime, live_app):
    from service import messaging
    from service.handoff import request_handoff

    create_officer(runtime)
    tenant = create_tenant(runtime)
    with transaction(runtime.sessions) as session:
        conversation = messaging.conversation_for(session, tenant.phone, "sms")
        request_handoff(conversation, "safeguarding", runtime.clock())
    task = add_task(runtime, tenant, "missed_by_provider", "We missed the visit; rebook.")

    client = live_app.test_client()
    sign_in(client)
    assert f'data-task="{task.id}"' not in page(client, "/console/tasks")
