"""WhatsApp's rules for a message we start: free text inside the 24-hour window, templates outside it.

WhatsApp accepts free text only within 24 hours of the tenant's last message
(ours do not reopen it). Outside, only a template approved in advance may go,
sent by its content SID with every variable filled; Twilio refuses an empty
one. When there is no approved template for the message in the tenant's
language, or a variable has no value, or WhatsApp reports it could not deliver,
the message goes by SMS instead and the reason is kept on the message.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from service import i18n
from store.models import Conversation, Message

WINDOW = timedelta(hours=24)
# Delivery errors after which SMS may still reach the tenant: outside the window (63016),
# not a WhatsApp user (63003), template or policy refusals (63024, 63032, 63049).
RETRY_BY_SMS = {"63016", "63003", "63024", "63032", "63049"}
# A variable that may be missing, and the words that stand in for it (never an empty value).
STAND_INS = {"operative": "operative_unknown", "officer": "operative_unknown"}


@dataclass(frozen=True)
class Route:
    """How one outbound message goes: as free text, as a template, or moved to SMS (with why)."""

    kind: str  # "text", "template", "sms"
    content_sid: str | None = None
    content_variables: str | None = None
    reason: str | None = None


def within_window(last_inbound: datetime | None, now: datetime) -> bool:
    """Free text may go to a WhatsApp number only within 24 hours of the tenant's last message."""
    return last_inbound is not None and now - last_inbound < WINDOW


def window_open(session, tenant_id: int | None, address: str, now: datetime) -> bool:
    last = session.scalar(
        select(Conversation.last_inbound_at).where(Conversation.address == address, Conversation.channel == "whatsapp")
    )
    return within_window(last, now)


def route_for(settings, message: Message, locale: str, window_is_open: bool) -> Route:
    """The way to send a WhatsApp message we start, given the window and the approved templates."""
    if window_is_open and not (message.raw or {}).get("template_only"):
        return Route("text")
    text_key = (message.raw or {}).get("text_key")
    template = settings.section("whatsapp_templates").get(text_key or "") or {}
    content_sid = (template.get("content_sids") or {}).get(locale)
    if not content_sid:
        return Route("sms", reason=f"WhatsApp window closed and no approved template for {text_key} in {locale}")

    values = (message.raw or {}).get("variables") or {}
    filled = {}
    for position, name in enumerate(template.get("variables") or [], start=1):
        value = str(values.get(name) or "").strip()
        if not value and name in STAND_INS:
            value = i18n.render(STAND_INS[name], locale)
        if not value:
            return Route("sms", reason=f"template {text_key} has no value for {name}")
        filled[str(position)] = value
    return Route("template", content_sid=content_sid, content_variables=json.dumps(filled, ensure_ascii=False))
