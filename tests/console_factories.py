"""Test data and browser-free helpers for the officers' console."""

import re
from datetime import datetime

from sqlalchemy import select

from service.console.accounts import create_officer as store_officer
from service.handoff import request_handoff
from store.db import transaction
from store.models import AuditEntry, Conversation

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
