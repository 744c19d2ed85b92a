"""Test data and browser-free helpers for the officers' console."""

import re
from datetime import datetime

from sqlalchemy import select

from service import adjustments
from service.console.accounts import create_officer as store_officer
from service.handoff import request_handoff
from store.db import transaction
from store.models import AuditEntry, Conversation, VisitEvent

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def create_officer(runtime, email="sam.patel@example.org", name="Sam Patel", role="officer", password=PASSWORD):
    return store_officer(runtime.sessions, email, name, role, password, runtime.clock())


def open_conversation(runtime, tenant, channel="sms", last_inbound_at=None) -> Conversation:
    """A conversation row as the first inbound message would leave it, without sending one."""
    with transaction(runtime.sessions) as session:
        conversation = Conversation(
            address=tenant.phone,
            channel=channel,
            tenant_id=tenant.id,
            state={},
            last_inbound_at=last_inbound_at or runtime.clock(),
        )
        session.add(conversation)
    return conversation


def queue_conversation(runtime, conversation_id: int, at: datetime, urgent=False, reason="asked_for_person"):
    with transaction(runtime.sessions) as session:
        request_handoff(session.get(Conversation, conversation_id), reason, at, urgent=urgent)


def get_conversation(runtime, conversation_id: int) -> Conversation:
    with transaction(runtime.sessions) as session:
        return session.get(Conversation, conversation_id)


def audit_actions(runtime) -> list[str]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def csrf_token(client, page="/console/sign-in") -> str:
    found = CSRF_FIELD.search(client.get(page).get_data(as_text=True))
    assert found, f"no CSRF token on {page}"
    return found.group(1)


def sign_in(client, email="sam.patel@example.org", password=PASSWORD):
    token = csrf_token(client)
    return client.post("/console/sign-in", data={"email": email, "password": password, "csrf_token": token})


def post_form(client, path: str, data: dict | None = None):
    """POST a console form the way the browser does: with the token from a console page."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, "/console/search")})


def taken_conversation(runtime, client, officer, tenant, channel="sms"):
    """A conversation the signed-in officer has taken over from the queue."""
    conversation = open_conversation(runtime, tenant, channel=channel)
    queue_conversation(runtime, conversation.id, runtime.clock())
    post_form(client, f"/console/conversations/{conversation.id}/take-over")
    assert get_conversation(runtime, conversation.id).assigned_officer_id == officer.id
    return conversation


def page(client, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, answer.status_code
    return answer.get_data(as_text=True)


def signed_in_client(app, runtime, role: str, email: str, name: str):
    """Another officer, with their own browser session, holding `role`."""
    create_officer(runtime, email=email, name=name, role=role)
    client = app.test_client()
    assert sign_in(client, email=email).status_code == 302
    return client


def record_need(runtime, tenant, kind: str, detail: str, recorded_by="assistant", message_id=None, at=None):
    """A need kept as the assistant keeps one after the tenant agreed by text."""
    with transaction(runtime.sessions) as session:
        [adjustment] = adjustments.record(
            session,
            tenant.id,
            [kind],
            detail,
            recorded_by=recorded_by,
            consent_how="tenant agreed by text",
            now=at or runtime.clock(),
            message_id=message_id,
        )
    return adjustment


def add_visit_event(runtime, visit, status: str, actor="system", note=None):
    with transaction(runtime.sessions) as session:
        session.add(VisitEvent(visit_id=visit.id, status=status, actor=actor, note=note))
