"""The console's pages: the queue, search, one conversation, the officer's reply, the audit trail."""

import logging
import unicodedata

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from service import i18n
from service.adjustments import KINDS
from service.console import access, audit, queries
from service.console.blueprint import (
    ADMIN_ROLES,
    CONVERSATION_ROLES,
    SignedIn,
    bp,
    current_officer,
    requires_role,
    runtime,
)
from service.console.card import tenant_card
from service.console.display import CONSENT_WAYS, need_kind
from service.console.replies import AFTER_ACTION_KEYS, GENERAL_KEYS, VISIT_KEYS, canned_replies, canned_reply
from service.handoff import OFFICER
from service.languages import language_by_code
from service.messaging import (
    WHATSAPP_WINDOW,
    NotSafeForTenant,
    NotYours,
    WindowClosed,
    send_officer_reply,
    send_officer_template,
    whatsapp_window_open,
)
from store.db import transaction
from store.models import Conversation, Message, Visit

log = logging.getLogger(__name__)

# Twilio refuses a body longer than this.
MAX_REPLY_CHARS = 1600
AUDIT_PAGE_SIZE = 200


@bp.get("/")
@requires_role(*CONVERSATION_ROLES)
def queue():
    """Conversations waiting for a person or with one: urgent first, then the longest waiting."""
    now = runtime().clock()
    with transaction(runtime().sessions) as session:
        conversations = queries.conversations_with_people(session, current_officer().role)
        escalated = queries.conversations_escalated(session, [c.id for c in conversations])
        officers = queries.officer_names(session, [c.assigned_officer_id for c in conversations])
        return render_template(
            "console/queue.html", conversations=conversations, escalated=escalated, officers=officers, now=now
        )


@bp.get("/search")
@requires_role(*CONVERSATION_ROLES)
def search():
    """Find any conversation by the tenant's name or phone number, to open or take it over."""
    query = request.args.get("q", "")[:100]
    with transaction(runtime().sessions) as session:
        found = queries.find_conversations(session, query, current_officer().role)
        officers = queries.officer_names(session, [c.assigned_officer_id for c in found])
        return render_template("console/search.html", query=query, found=found, officers=officers)


@bp.get("/conversations/<int:conversation_id>")
@requires_role(*CONVERSATION_ROLES)
def conversation(conversation_id: int):
    """One conversation: its transcript, the tenant's card, the reply box and the quick actions."""
    settings, now, officer = runtime().settings, runtime().clock(), current_officer()
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        tenant = conversation.tenant
        visits = queries.tenant_visits(session, tenant.id) if tenant else []
        locale = i18n.normalise_locale(tenant.language if tenant else None)
        messages = queries.transcript(session, conversation.id)
        officer_ids = [_officer_id_of(message) for message in messages] + [conversation.assigned_officer_id]
        officers = queries.officer_names(session, officer_ids)

        return render_template(
            "console/conversation.html",
            conversation=conversation,
            tenant=tenant,
            visits=visits,
            messages=messages,
            senders={message.id: _sender(message, officers) for message in messages},
            officers=officers,
            language=language_by_code(settings, locale),
            locale=locale,
            rtl=i18n.is_rtl_locale(locale),
            window_open=whatsapp_window_open(conversation, now),
            window_closes_at=(conversation.last_inbound_at + WHATSAPP_WINDOW) if conversation.last_inbound_at else None,
            opted_out=_opted_out(conversation),
            mine=is_mine(conversation, officer),
            canned=canned_replies(visits, locale),
            suggested=_suggested_reply(visits, locale),
            escalated=bool(queries.conversations_escalated(session, [conversation.id])),
            activity=queries.audit_trail(session, 20, conversation.id),
            card=tenant_card(session, tenant, visits, officer.role, now) if tenant else None,
            need_kinds=[
                (kind, need_kind(kind), meta.special_category)
                for kind, meta in KINDS.items()
                if access.may_manage_kind(officer.role, kind)
            ],
            consent_ways=CONSENT_WAYS,
            neutral_line=access.NEUTRAL_LINE,
            follow_up=i18n.render("officer_follow_up", "en", name=tenant.name.split()[0] if tenant else ""),
            now=now,
        )


@bp.post("/conversations/<int:conversation_id>/reply")
@requires_role(*CONVERSATION_ROLES)
def reply(conversation_id: int):
    """Send the officer's words to the tenant, on the conversation's own channel."""
    officer, body = current_officer(), printable(request.form.get("body", ""))
    page = url_for("console.conversation", conversation_id=conversation_id)
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            flash("Take over this conversation before replying.", "error")
            return redirect(page)

    if not body or len(body) > MAX_REPLY_CHARS:
        flash(f"A reply needs between 1 and {MAX_REPLY_CHARS} characters.", "error")
        return redirect(page + "#reply")
    try:
        message = send_officer_reply(runtime(), conversation_id, body, officer.id)
    except NotYours:
        flash("Someone else has taken this conversation over: your reply was not sent.", "error")
        return redirect(page)
    except WindowClosed:
        flash("WhatsApp's 24-hour window has closed: only an approved template can be sent now.", "error")
        return redirect(page + "#reply")

    with transaction(runtime().sessions) as session:
        conversation = session.get(Conversation, conversation_id)
        detail = {"message_id": message.id, "status": message.status}
        audit.record(session, officer.id, "replied", runtime().clock(), conversation=conversation, detail=detail)
    log.info("officer replied", extra={"officer_id": officer.id, "message_id": message.id})
    flash(_sent_note(message), "error" if message.state in ("suppressed", "failed", "unconfirmed") else "info")
    return redirect(page + "#reply")


@bp.post("/conversations/<int:conversation_id>/template")
@requires_role(*CONVERSATION_ROLES)
def send_template(conversation_id: int):
    """Outside WhatsApp's window: the approved follow-up template, so the tenant can write back."""
    officer = current_officer()
    page = url_for("console.conversation", conversation_id=conversation_id)
    with transaction(runtime().sessions) as session:
        conversation = conversation_or_404(session, conversation_id)
        if not is_mine(conversation, officer):
            flash("Take over this conversation before writing to the tenant.", "error")
            return redirect(page)
    try:
        message = send_officer_template(runtime(), conversation_id, officer.id)
    except NotYours:
        flash("Someone else has taken this conversation over: nothing was sent.", "error")
        return redirect(page)
    except NotSafeForTenant:
        flash("Discreet contact: the template names our housing team, so it was not sent.", "error")
        return redirect(page)

    with transaction(runtime().sessions) as session:
        conversation = session.get(Conversation, conversation_id)
        detail = {"message_id": message.id, "status": message.status, "template": "officer_follow_up"}
        audit.record(session, officer.id, "sent_template", runtime().clock(), conversation=conversation, detail=detail)
    flash(_sent_note(message), "error" if message.state in ("suppressed", "failed", "unconfirmed") else "info")
    return redirect(page + "#reply")


@bp.get("/audit")
@requires_role(*ADMIN_ROLES)
def audit_log():
    """Everything officers did in the console, newest first."""
    with transaction(runtime().sessions) as session:
        entries = queries.audit_trail(session, AUDIT_PAGE_SIZE, role=current_officer().role)
        return render_template("console/audit.html", entries=entries)


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(404)
def console_error(error):
    return render_template("console/error.html", error=error), error.code


# Shared with the quick actions.


def conversation_or_404(session: Session, conversation_id: int) -> Conversation:
    """The conversation, if the signed-in officer may see it; a safeguarding case is not found for other roles."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        abort(404)
    officer = current_officer()
    if not access.may_see(session, officer.role, conversation):
        log.info("conversation hidden from role", extra={"officer_id": officer.id, "conversation_id": conversation.id})
        abort(404)
    return conversation


def tenant_visit_or_404(session: Session, conversation: Conversation, visit_id: int) -> Visit:
    """A visit of this conversation's tenant: an officer acts only on the tenant in front of them."""
    visit = session.get(Visit, visit_id)
    if visit is None or conversation.tenant_id is None or visit.tenant_id != conversation.tenant_id:
        abort(404)
    return visit


def is_mine(conversation: Conversation, officer: SignedIn) -> bool:
    return conversation.owner == OFFICER and conversation.assigned_officer_id == officer.id


def _suggested_reply(visits: list[Visit], locale: str):
    """A catalog reply chosen with ?suggest=KEY (&visit=ID), to start the reply box with."""
    key = request.args.get("suggest", "")
    if key not in GENERAL_KEYS + VISIT_KEYS + AFTER_ACTION_KEYS:
        return None
    visit_id = request.args.get("visit", type=int)
    visit = next((visit for visit in visits if visit.id == visit_id), None)
    return canned_reply(key, visit, locale)


def _officer_id_of(message: Message) -> int | None:
    prefix = "officer:"
    key = message.template_key or ""
    if message.direction == "outbound" and key.startswith(prefix) and key[len(prefix) :].isdigit():
        return int(key[len(prefix) :])
    return None


def _sender(message: Message, officers: dict[int, str]) -> str:
    if message.direction == "inbound":
        return "Tenant"
    officer_id = _officer_id_of(message)
    if officer_id is not None:
        return officers.get(officer_id, f"Officer {officer_id}")
    return "Assistant"


def _opted_out(conversation: Conversation) -> bool:
    tenant = conversation.tenant
    if tenant is None:
        return False
    return tenant.whatsapp_opted_out if conversation.channel == "whatsapp" else tenant.sms_opted_out


def _sent_note(message: Message) -> str:
    if message.state == "suppressed":
        return "Not sent: the tenant has opted out of messages on this channel."
    if message.state in ("failed", "unconfirmed"):
        return f"Sending failed (code {message.error_code}); a task has been made to check it."
    return f"Sent ({message.status})."


def printable(text: str) -> str:
    """An officer's reply without control or invisible formatting characters (NUL, ESC, RLO, zero-width)."""
    kept = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf"))
    return kept.strip()
