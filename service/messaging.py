"""The life of a message: stored on arrival, understood, answered, delivered, tracked.

Order matters here. An inbound message is written to the database before
anything else is done with it, and its Twilio MessageSid is unique there, so a
redelivered webhook is recognised by the database itself, not by a
check-then-insert race. Replies are stored before they are sent, so a crash
between the two leaves a record to finish from, never a silent loss.
"""

import logging
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import opencc
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from service import adjustments, i18n, identity, logs, metrics, whatsapp
from service.dialogue import Turn, handle_turn, question_about
from service.handoff import request_handoff, with_a_person
from service.languages import detect_language, language_by_code, requested_language
from service.phones import InvalidPhoneNumber, split_address, twilio_address
from service.rasa_client import RasaUnavailable
from service.safety import emergency_in, safety_message
from service.sms import plain_punctuation
from service.twilio_gateway import SendError
from service.visits import open_visits
from store.db import transaction
from store.models import Conversation, Message, OfficerTask, Tenant

log = logging.getLogger(__name__)

# Twilio's own order of outbound statuses; an update may only move forwards.
STATUS_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}
PERMANENT_ERRORS = {"21211", "21612", "21614", "21610", "30003", "30005", "30006"}
UNKNOWN_NUMBER_QUIET = timedelta(hours=24)
OPT_IN_WORDS = {"START", "UNSTOP"}
# A message whose handling failed this often (crashes, faults) goes to a person instead.
MAX_ANSWER_ATTEMPTS = 3
# Twilio's Advanced Opt-Out reports these; it has already answered the tenant itself.
TWILIO_OPT_OUT_TYPES = {"STOP", "START", "HELP"}
HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# Arrival.


def store_inbound(runtime, form: dict, received_at: datetime | None = None) -> tuple[Message, bool]:
    """Keep the message and find its conversation. Returns (message, is_duplicate).

    `received_at`: when a message kept in the spool while the database was away really arrived.
    """
    # PostgreSQL cannot store a NUL character; it is never part of a real text, so it is marked, not kept.
    form = {key: value.replace("\x00", "\ufffd") if isinstance(value, str) else value for key, value in form.items()}
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip() or None
    media = _media_of(form)
    try:
        channel, address = split_address(form.get("From", ""))
    except InvalidPhoneNumber:
        channel, address = "sms", None

    with transaction(runtime.sessions) as session:
        conversation = conversation_for(session, address, channel) if address else None
        message = Message(
            direction="inbound",
            channel=channel,
            conversation_id=conversation.id if conversation else None,
            tenant_id=conversation.tenant_id if conversation else None,
            from_address=(form.get("From") or "")[:64],
            to_address=(form.get("To") or "")[:64],
            body=form.get("Body") or "",
            media=media,
            raw={key: value for key, value in form.items() if key != "Body"},
            twilio_sid=sid,
            status="received",
            state="received" if conversation else "unroutable",
            **({"created_at": received_at} if received_at else {}),
        )
        if conversation is None:
            log.warning("inbound message from an address we cannot route", extra={"message_sid": sid})
        try:
            with session.begin_nested():
                session.add(message)
        except IntegrityError:
            duplicate = session.scalar(select(Message).where(Message.twilio_sid == sid))
            return duplicate, True
        if conversation:
            conversation.last_inbound_at = message.created_at or utcnow()
    metrics.MESSAGES_IN.labels(channel).inc()
    return message, False


def accept_inbound(runtime, form: dict, received_at: datetime | None = None) -> Message | None:
    """The webhook's work, also used for a message kept in the spool: store, then answer or queue."""
    message, duplicate = store_inbound(runtime, form, received_at)
    if duplicate:
        log.info("duplicate webhook ignored", extra={"message_id": message.id if message else None})
        return message
    # From here (an emergency answered at once, the queueing) logs carry the new message's ids.
    with logs.context(message_id=message.id, conversation_id=message.conversation_id):
        log.info("inbound message stored", extra={"channel": message.channel, "state": message.state})
        if message.conversation_id and not answer_emergency_now(runtime, message.id):
            runtime.worker.submit_conversation(message.conversation_id)
    return message


def conversation_for(session, address: str, channel: str) -> Conversation:
    # Locked: a reminder and a tenant's reply each rewrite the conversation's state, and must take turns.
    found = session.scalar(
        select(Conversation).where(Conversation.address == address, Conversation.channel == channel).with_for_update()
    )
    if found:
        return found
    tenant = session.scalar(select(Tenant).where(Tenant.phone == address))
    conversation = Conversation(address=address, channel=channel, tenant_id=tenant.id if tenant else None, state={})
    try:
        with session.begin_nested():
            session.add(conversation)
    except IntegrityError:
        # Two first messages from one number at once: the other request made it.
        return session.scalar(
            select(Conversation).where(Conversation.address == address, Conversation.channel == channel)
        )
    return conversation


def _media_of(form: dict) -> list[dict]:
    items = []
    try:
        count = min(int(form.get("NumMedia") or 0), 10)
    except ValueError:
        count = 0
    for index in range(count):
        url, kind = form.get(f"MediaUrl{index}", ""), form.get(f"MediaContentType{index}", "")
        if url or kind:  # a count with nothing behind it is not a photo
            items.append({"url": url, "type": kind})
    if form.get("Latitude") and form.get("Longitude"):
        items.append({"type": "location", "latitude": form["Latitude"], "longitude": form["Longitude"]})
    return items


# Understanding and answering.


def process_conversation(runtime, conversation_id: int) -> None:
    """Answer every waiting message of one conversation, oldest first."""
    with logs.context(conversation_id=conversation_id):
        _process_waiting(runtime, conversation_id)


def _process_waiting(runtime, conversation_id: int) -> None:
    while True:
        with transaction(runtime.sessions) as session:
            message_id = session.scalar(
                select(Message.id)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.direction == "inbound",
                    Message.state == "received",
                )
                # Arrival order: a message kept in the spool during an outage has its real arrival time.
                .order_by(Message.created_at, Message.id)
                .limit(1)
            )
        if message_id is None:
            return

        if _count_attempt(runtime, message_id) > MAX_ANSWER_ATTEMPTS:
            # Tried and failed before (a crash, a fault): a person answers, the tenant hears we have it.
            _give_up(runtime, message_id)
        else:
            process_message(runtime, message_id)


def _count_attempt(runtime, message_id: int) -> int:
    with transaction(runtime.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.id == message_id, Message.state == "received")
            .values(attempts=Message.attempts + 1)
        )
        return session.scalar(select(Message.attempts).where(Message.id == message_id)) or 0


def _give_up(runtime, message_id: int) -> None:
    log.error("message given to a person after repeated failures", extra={"message_id": message_id})
    try:
        # Whatever failed, an emergency still gets the safety message and the urgent alert...
        if answer_emergency_now(runtime, message_id):
            return
    except Exception:
        # ...unless answering it is what keeps failing: then the urgent task, at least, below.
        log.exception("emergency answer failed while giving up", extra={"message_id": message_id})
    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
        if message.state != "received":
            return
        conversation = session.get(Conversation, message.conversation_id)
        tenant = session.get(Tenant, conversation.tenant_id) if conversation.tenant_id else None
        urgent = emergency_in(clean_text(message.body)) is not None
        _officer_task(
            session,
            message,
            "urgent_safety" if urgent else "assistant_failed",
            "Urgent: an emergency message could not be answered." if urgent else "The assistant failed to answer.",
        )
        if with_a_person(conversation) and conversation.holding_sent:
            # A person has it and the tenant was told so already: once is enough.
            message.state, message.processed_at = "answered", utcnow()
            return
        _reply(session, message, conversation, i18n.render("held", i18n.normalise_locale(tenant and tenant.language)))
    _deliver_replies(runtime, message_id)


def process_message(runtime, message_id: int) -> None:
    # Everything logged while answering, however deep, carries the message's id.
    with logs.context(message_id=message_id):
        handled_without_rasa = _answer_without_rasa(runtime, message_id)
        if not handled_without_rasa:
            _answer_with_rasa(runtime, message_id)
        _deliver_replies(runtime, message_id)
        log.info("inbound message handled", extra={"by": "rules" if handled_without_rasa else "assistant"})


def _answer_without_rasa(runtime, message_id: int) -> bool:
    """Messages that need no understanding: opt-outs, unknown numbers, media, empty or huge bodies."""
    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
        if message.state != "received":
            return True
        conversation = session.get(Conversation, message.conversation_id)
        tenant = session.get(Tenant, conversation.tenant_id) if conversation.tenant_id else None
        locale = i18n.normalise_locale(tenant.language if tenant else None)
        opt_out = (message.raw.get("OptOutType") or "").upper()
        opt_out = opt_out if opt_out in TWILIO_OPT_OUT_TYPES else ""
        body = clean_text(message.body)
        max_chars = runtime.settings.section("assistant").get("max_understood_chars", 500)
        discreet = adjustments.discreet_for(session, tenant.id) if tenant else None
        if discreet and not opt_out and not adjustments.is_exit_word(discreet, body):
            # Writing to us again is the tenant's own choice: the quiet after an exit word ends.
            discreet.settings = {**discreet.settings, "silenced_until": None}

        if opt_out:
            # Twilio has already answered the keyword itself; we record the choice and stay quiet.
            if tenant and opt_out in ("STOP", "START"):
                _set_opt_out(tenant, message.channel, opted_out=opt_out == "STOP")
            if tenant and opt_out == "STOP" and _reminded_recently(session, conversation):
                # Often a tenant meaning "cancel" or "not that day": a person should ring them.
                _officer_task(
                    session,
                    message,
                    "opted_out_after_reminder",
                    "The tenant opted out of texts just after a reminder; please call them.",
                )
            message.state = "answered"
        elif tenant and adjustments.is_exit_word(discreet, body):
            _end_discreetly(runtime, session, message, conversation, tenant, discreet, locale)
        elif emergency := emergency_in(body):
            _answer_emergency(runtime, session, message, conversation, tenant, emergency)
        elif _flooding(session, runtime.settings, message):
            # Kept and shown to officers, but not answered: a loop or an attack must not drive the bot.
            message.state, message.processed_at = "throttled", utcnow()
            metrics.THROTTLED.inc()
        elif tenant is None:
            _answer_unknown_number(session, message, conversation, locale)
        elif with_a_person(conversation):
            # A person has this conversation: it waits in the console, and the assistant
            # says only once that someone will reply (BR-19).
            if conversation.holding_sent:
                message.state, message.processed_at = "answered", utcnow()
            else:
                conversation.holding_sent = True
                _reply(session, message, conversation, i18n.render("handoff", locale))
        elif message.media and not body:
            _answer_media(session, message, conversation, tenant, locale)
        elif not body:
            _reply(session, message, conversation, i18n.render("empty_message", locale))
        elif len(body) > max_chars:
            _officer_task(session, message, "long_message", "A long message needs a person to read it.")
            _reply(session, message, conversation, i18n.render("long_message", locale))
        elif body.upper() in OPT_IN_WORDS:
            # Our own opt-out (the tenant asked in words) is lifted the carrier's way.
            _set_opt_out(tenant, message.channel, opted_out=False)
            _reply(session, message, conversation, i18n.render("opted_in", locale))
        elif identity.must_check(runtime.settings, tenant):
            # Before anything changes the tenant's record (even their language), the number is checked.
            _check_number(runtime, session, message, conversation, tenant, body, locale)
        elif requested := requested_language(body, runtime.settings):
            tenant.language = requested
            language = language_by_code(runtime.settings, requested)
            _reply(
                session, message, conversation, i18n.render("language_switched", requested, language=language.autonym)
            )
        else:
            return False
        return True


def _flooding(session, settings, message: Message) -> bool:
    """More messages from this number in the last minute than a person types: the rest wait for a person.

    The first message over the limit creates one officer task; the following ones are only kept.
    """
    limit = settings.section("assistant").get("max_messages_per_minute", 8)
    since = (message.created_at or utcnow()) - timedelta(minutes=1)
    recent = session.scalar(
        select(func.count(Message.id)).where(
            Message.conversation_id == message.conversation_id,
            Message.direction == "inbound",
            Message.created_at >= since,
            Message.id <= message.id,
        )
    )
    if recent <= limit:
        return False
    if recent == limit + 1:
        _officer_task(session, message, "message_flood", "Many messages in a minute from this number; please look.")
    return True


def _end_discreetly(runtime, session, message, conversation, tenant, discreet, locale) -> None:
    """The tenant's exit word: one ordinary line, every open question dropped, then quiet."""
    now = runtime.clock()
    hours = runtime.settings.section("adjustments").get("silence_after_exit_word_hours", 24)
    discreet.settings = {**discreet.settings, "silenced_until": (now + timedelta(hours=hours)).isoformat()}
    for each in session.scalars(select(Conversation).where(Conversation.tenant_id == tenant.id)):
        each.state = {**(each.state or {}), "pending": None}
    _officer_task(session, message, "safeguarding", "The tenant sent their exit word. Contact only at safe times.")
    reply = _reply(session, message, conversation, i18n.render("discreet_exit", locale))
    reply.template_key = "discreet_exit"


def _check_number(runtime, session, message, conversation, tenant, body, locale) -> None:
    """Nothing about a visit goes to a number until it answers with the tenant's address or postcode."""
    now = runtime.clock()
    outcome = identity.answer_check(session, runtime.settings, conversation, tenant, body, now)
    if outcome == "asked":
        _reply(session, message, conversation, i18n.render("verify_ask", locale))
    elif outcome == "retry":
        _reply(session, message, conversation, i18n.render("verify_retry", locale))
    elif outcome == "failed":
        _officer_task(session, message, "identity_check_failed", "A number could not be checked as the tenant's.")
        request_handoff(conversation, "identity_check", now)
        conversation.holding_sent = True
        _reply(session, message, conversation, i18n.render("verify_failed", locale))
    else:
        lines = [i18n.render("verify_ok", locale)]
        visits = open_visits(session, tenant.id, now)
        if visits:
            # Now it is safe to say what we wrote about, and let a "yes" confirm it.
            visit = visits[0]
            visit_type = "discreet" if adjustments.discreet_for(session, tenant.id) else visit.visit_type
            lines.append(
                i18n.render(
                    "greeting",
                    locale,
                    name=tenant.name.split()[0],
                    visit=i18n.render(f"visit_type.{visit_type}", locale),
                    slot=i18n.format_slot(visit.slot_start, visit.slot_end, locale),
                )
            )
            conversation.state = {
                **(conversation.state or {}),
                "visit_id": visit.id,
                "pending": question_about(visit, "confirm_visit", now),
            }
        _reply(session, message, conversation, "\n".join(lines))


def answer_emergency_now(runtime, message_id: int) -> bool:
    """Called by the webhook itself: a message naming an emergency is answered before Twilio hears back.

    The message is claimed first (received -> answering), so the background worker,
    which only takes received messages, never answers it a second time.
    """
    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
        emergency = emergency_in(clean_text(message.body)) if message and message.conversation_id else None
        if not emergency:
            return False
        claimed = session.execute(
            update(Message).where(Message.id == message_id, Message.state == "received").values(state="answering")
        ).rowcount
        if not claimed:
            return False
        session.refresh(message)
        conversation = session.get(Conversation, message.conversation_id)
        tenant = session.get(Tenant, conversation.tenant_id) if conversation.tenant_id else None
        _answer_emergency(runtime, session, message, conversation, tenant, emergency)
    _deliver_replies(runtime, message_id)
    return True


def _answer_emergency(runtime, session, message, conversation, tenant, emergency: str) -> None:
    """The fixed safety message, and the conversation to the top of the officers' queue."""
    if tenant:
        locale = i18n.normalise_locale(tenant.language)
    else:
        # A number we do not know: the language the message is written in, if that is clear.
        locale = i18n.normalise_locale(detect_language(message.body or "", runtime.settings) or "en")
    reply = _reply(session, message, conversation, safety_message(emergency, locale))
    reply.template_key = f"safety.{emergency}"
    request_handoff(conversation, "urgent_safety", runtime.clock(), urgent=True)
    conversation.holding_sent = True
    _officer_task(session, message, "urgent_safety", f"Urgent: the tenant's message reads as {emergency}.")
    log.warning("urgent safety message sent", extra={"message_id": message.id, "emergency": emergency})


def _reminded_recently(session, conversation: Conversation) -> bool:
    last = session.execute(
        select(Message.template_key, Message.created_at)
        .where(Message.conversation_id == conversation.id, Message.direction == "outbound")
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    return bool(
        last and (last.template_key or "").startswith("reminder.") and utcnow() - last.created_at < timedelta(days=2)
    )


def _answer_unknown_number(session, message, conversation, locale) -> None:
    # Tell a stranger nothing about any visit, and only once a day so we cannot be used to spam.
    last_reply = session.scalar(
        select(Message.created_at)
        .where(Message.conversation_id == conversation.id, Message.direction == "outbound")
        .order_by(Message.id.desc())
        .limit(1)
    )
    if last_reply and utcnow() - last_reply < UNKNOWN_NUMBER_QUIET:
        message.state = "answered"
        return
    _reply(session, message, conversation, i18n.render("unknown_number", locale))


def _answer_media(session, message, conversation, tenant, locale) -> None:
    _officer_task(session, message, "media_received", "The tenant sent a photo, file, voice note or location.")
    _reply(session, message, conversation, i18n.render(_media_reply_key(message), locale))


def _media_reply_key(message: Message) -> str:
    kinds = {item.get("type", "").split("/")[0] for item in message.media}
    if "audio" in kinds:
        return "voice_note"
    if kinds == {"location"}:
        return "location_received"
    return "media_received"


def _answer_with_rasa(runtime, message_id: int) -> None:
    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
        conversation = session.get(Conversation, message.conversation_id)
        sender_id, text = conversation.rasa_sender_id, clean_text(message.body)

    try:
        if not runtime.rasa.known_ready and not runtime.rasa.is_ready():
            # Just after a restart the model is still loading: wait rather than fail the tenant.
            runtime.rasa.wait_until_ready(runtime.rasa_wait_seconds)
        runtime.rasa.send(sender_id, text, {"message_id": message_id})
    except RasaUnavailable:
        log.warning("rasa did not answer", extra={"message_id": message_id, "conversation_id": conversation.id})

    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
        if message.state == "received":
            # No action answered: say we have it, and make sure a person does.
            conversation = session.get(Conversation, message.conversation_id)
            tenant = session.get(Tenant, conversation.tenant_id)
            _officer_task(session, message, "assistant_unavailable", "The assistant could not answer.")
            _reply(session, message, conversation, i18n.render("held", i18n.normalise_locale(tenant.language)))


def answer_turn(runtime, conversation_id: int, message_id: int, action: str, intent: str, confidence: float) -> bool:
    """Called for Rasa's custom action: carry it out and store the reply. False if nothing to do."""
    with transaction(runtime.sessions) as session:
        conversation = session.scalar(select(Conversation).where(Conversation.id == conversation_id).with_for_update())
        message = session.get(Message, message_id)
        if (
            conversation is None
            or message is None
            or message.conversation_id != conversation.id
            or message.direction != "inbound"
            or message.state != "received"
            or conversation.tenant_id is None
        ):
            return False
        tenant = session.get(Tenant, conversation.tenant_id)
        turn = Turn(
            session=session,
            settings=runtime.settings,
            conversation=conversation,
            tenant=tenant,
            message=message,
            now=runtime.clock(),
            text=clean_text(message.body),
        )
        if message.media:
            # A photo with words: thank them for the photo, then answer the words.
            _officer_task(session, message, "media_received", "The tenant sent a photo or file with a message.")
            turn.say(_media_reply_key(message))
        handle_turn(turn, action, intent, confidence)
        _offer_language(turn)
        if turn.replies:
            reply = _reply(session, message, conversation, "\n".join(turn.replies))
            # The one message allowed through after an opt-out is the one that confirms it.
            opted_out = action == "action_stop" and _opted_out(tenant, conversation.channel)
            reply.template_key = "opted_out" if opted_out else None
        else:
            message.state = "answered"
        return True


def _offer_language(turn: Turn) -> None:
    """A longer message in another language we speak gets one offer to switch, in that language."""
    detected = detect_language(turn.text, turn.settings)
    state = turn.conversation.state or {}
    if not detected or detected == turn.locale or state.get("offered_language") == detected:
        return
    language = language_by_code(turn.settings, detected)
    turn.replies.append(
        i18n.render("language_offer", detected, language=language.autonym, request=language.autonym.upper())
    )
    turn.conversation.state = {**state, "offered_language": detected}


def clean_text(body: str) -> str:
    """What Rasa may see of a body.

    No leading '/' (Rasa's intent syntax, BR-04), no control characters, one
    space between words, and Traditional Chinese in the Simplified characters
    the model was mostly trained on.
    """
    text = unicodedata.normalize("NFC", body or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    text = re.sub(r"\s+", " ", text).strip()
    if HAN.search(text):
        text = _simplified_chinese().convert(text)
    # "/ /affirm" or "/\u00a0/restart" must not leave a slash in front once trimmed.
    return re.sub(r"^[\s/]+", "", text)


def warm_up() -> None:
    """Build now the word lists and converters a first message would otherwise wait for.

    About a third of a second of work; in a process that has just started, a burst of first
    webhooks all waited on it at once (about 1.7 s each in the scaled bench).
    """
    emergency_in(clean_text("warm up 您好"))


@lru_cache(maxsize=1)
def _simplified_chinese():
    return opencc.OpenCC("t2s")


def outbound(conversation: Conversation, body: str, **fields) -> Message:
    """A message to send on the conversation's own channel, plain punctuation, not yet handed over."""
    return Message(
        direction="outbound",
        channel=conversation.channel,
        conversation_id=conversation.id,
        tenant_id=conversation.tenant_id,
        from_address="",
        to_address=twilio_address(conversation.channel, conversation.address),
        body=plain_punctuation(body),
        status="pending",
        state="pending",
        **fields,
    )


def _reply(session, message: Message, conversation: Conversation, body: str) -> Message:
    """Store one reply to `message` on the channel it came from, to be sent after commit."""
    reply = outbound(conversation, body, reply_to_id=message.id)
    session.add(reply)
    message.state = "answered"
    message.processed_at = utcnow()
    return reply


def _officer_task(session, message: Message, kind: str, detail: str) -> None:
    session.add(
        OfficerTask(
            kind=kind,
            tenant_id=message.tenant_id,
            conversation_id=message.conversation_id,
            message_id=message.id,
            detail=detail,
        )
    )


def _set_opt_out(tenant: Tenant, channel: str, opted_out: bool) -> None:
    if channel == "whatsapp":
        tenant.whatsapp_opted_out = opted_out
    else:
        tenant.sms_opted_out = opted_out


# Sending and delivery status.


WHATSAPP_WINDOW = whatsapp.WINDOW


def whatsapp_window_open(conversation: Conversation, now: datetime) -> bool:
    """Free text may go to WhatsApp only within 24 hours of the tenant's last message."""
    return conversation.channel != "whatsapp" or whatsapp.within_window(conversation.last_inbound_at, now)


def send_officer_reply(runtime, conversation_id: int, body: str, officer_id: int) -> Message:
    """An officer's words to the tenant, on the conversation's own channel, stored then sent.

    Ownership is checked in the same transaction that stores the reply, with the row locked,
    so a colleague taking the conversation over at that moment cannot be talked over.
    """
    with transaction(runtime.sessions) as session:
        conversation = session.scalar(select(Conversation).where(Conversation.id == conversation_id).with_for_update())
        if conversation.owner != "officer" or conversation.assigned_officer_id != officer_id:
            raise NotYours()
        if conversation.channel == "whatsapp" and not whatsapp_window_open(conversation, runtime.clock()):
            raise WindowClosed()
        message = outbound(conversation, body, template_key=f"officer:{officer_id}")
        session.add(message)
    deliver(runtime, message.id)
    with transaction(runtime.sessions) as session:
        return session.get(Message, message.id)


def send_officer_template(runtime, conversation_id: int, officer_id: int) -> Message:
    """Outside WhatsApp's window: the approved follow-up template, inviting the tenant to write back.

    When the tenant answers, the window opens again and the officer can write freely.
    Without an approved template in the tenant's language it goes by SMS (see whatsapp.py).
    """
    with transaction(runtime.sessions) as session:
        conversation = session.scalar(select(Conversation).where(Conversation.id == conversation_id).with_for_update())
        if conversation.owner != "officer" or conversation.assigned_officer_id != officer_id:
            raise NotYours()
        tenant = session.get(Tenant, conversation.tenant_id) if conversation.tenant_id else None
        if tenant and adjustments.discreet_for(session, tenant.id):
            # The template names the tenant and our housing team: not for discreet contact.
            raise NotSafeForTenant()
        locale = i18n.normalise_locale(tenant.language if tenant else None)
        name = (tenant.name.split() or [""])[0] if tenant else ""
        message = outbound(
            conversation,
            i18n.render("officer_follow_up", locale, name=name),
            template_key=f"officer:{officer_id}",
            raw={"text_key": "officer_follow_up", "variables": {"name": name}, "template_only": True},
        )
        session.add(message)
    deliver(runtime, message.id)
    with transaction(runtime.sessions) as session:
        return session.get(Message, message.id)


class NotSafeForTenant(Exception):
    """The message would identify us to someone who may read the tenant's phone."""


class WindowClosed(Exception):
    """WhatsApp's 24-hour window is shut: only an approved template may be sent."""


class NotYours(Exception):
    """The conversation is not (or no longer) this officer's to answer."""


def _deliver_replies(runtime, message_id: int) -> None:
    with transaction(runtime.sessions) as session:
        reply_ids = session.scalars(
            select(Message.id).where(Message.reply_to_id == message_id, Message.state == "pending").order_by(Message.id)
        ).all()
    for reply_id in reply_ids:
        deliver(runtime, reply_id)


def deliver(runtime, message_id: int) -> bool:
    """Hand one stored outbound message to Twilio, exactly once. True if Twilio took it."""
    with transaction(runtime.sessions) as session:
        claimed = session.execute(
            update(Message)
            .where(Message.id == message_id, Message.state == "pending")
            .values(state="sending", attempts=Message.attempts + 1)
        ).rowcount
    if not claimed:
        return False

    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
        tenant = session.get(Tenant, message.tenant_id) if message.tenant_id else None
        route = _whatsapp_route(runtime, session, message, tenant)
        exempt = message.template_key == "opted_out" or (message.template_key or "").startswith("safety.")
        # Answers to the tenant's own messages, and an officer's words, go where the conversation is.
        ours = not message.reply_to_id and not (message.template_key or "").startswith("officer:")
        if tenant and ours and not exempt and not _on_safe_channel(session, tenant, message):
            # Discreet contact: only the channel the tenant chose, whatever else would have happened.
            message.state, message.status = "suppressed", "not_safe_channel"
            _officer_task(session, message, "safeguarding", "A message was held back: not the tenant's safe channel.")
            return False
        if tenant and _opted_out(tenant, message.channel) and not exempt:
            message.state, message.status = "suppressed", "opted_out"
            if message.reply_to_id:
                # They wrote to us but cannot be texted back: a person must reach them another way.
                _officer_task(
                    session,
                    message,
                    "reply_blocked_by_opt_out",
                    "The tenant wrote while opted out of texts; contact them another way.",
                )
            return False
        sender = runtime.settings.sms_from
        if message.channel == "whatsapp":
            sender = twilio_address("whatsapp", runtime.settings.whatsapp_from)
        message.from_address = sender
        to, body = message.to_address, message.body

    try:
        sent = runtime.gateway.send(
            to=to,
            from_=sender,
            body=body,
            status_callback=runtime.status_callback_url,
            content_sid=route.content_sid,
            content_variables=route.content_variables,
        )
    except SendError as error:
        _record_send_failure(runtime, message_id, error)
        return False

    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
        message.twilio_sid, message.state = sent.sid, "handed_over"
        metrics.MESSAGES_OUT.labels(message.channel, route.kind).inc()
        if message.reply_to_id:
            metrics.observe_reply(session.get(Message, message.reply_to_id).created_at, utcnow())
        if STATUS_RANK.get(sent.status, 0) >= STATUS_RANK.get(message.status, 0) or message.status == "pending":
            message.status = sent.status
    return True


def _whatsapp_route(runtime, session, message: Message, tenant: Tenant | None) -> whatsapp.Route:
    """Free text, an approved template, or SMS instead: decided before anything is handed over."""
    if message.channel != "whatsapp":
        return whatsapp.Route("text")
    address = split_address(message.to_address)[1]
    window_is_open = whatsapp.window_open(session, message.tenant_id, address, runtime.clock())
    locale = i18n.normalise_locale(tenant.language if tenant else None)
    route = whatsapp.route_for(runtime.settings, message, locale, window_is_open)
    if route.kind == "sms":
        _move_to_sms(session, message, route.reason)
    return route


def _on_safe_channel(session, tenant: Tenant, message: Message) -> bool:
    discreet = adjustments.discreet_for(session, tenant.id)
    safe_channel = (discreet.settings or {}).get("channel") if discreet else None
    return safe_channel is None or message.channel == safe_channel


def _move_to_sms(session, message: Message, reason: str) -> None:
    address = split_address(message.to_address)[1]
    conversation = conversation_for(session, address, "sms")
    message.channel, message.conversation_id = "sms", conversation.id
    message.to_address = twilio_address("sms", address)
    message.raw = {**(message.raw or {}), "routing": reason}
    log.info("whatsapp message sent by sms instead", extra={"message_id": message.id, "reason": reason})


def flag_interrupted_sends(runtime, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Sends a crash interrupted while Twilio was being asked: maybe sent, so never resent blindly.

    A message still "sending" long after a send could take (seconds) was cut off
    mid-request. Twilio may have it; a person checks the tenant's phone record
    rather than risk a second text.
    """
    # The real time, not the tenant-facing clock: updated_at is written with it.
    cutoff = utcnow() - older_than
    with transaction(runtime.sessions) as session:
        candidates = session.scalars(
            select(Message.id).where(
                Message.direction == "outbound", Message.state == "sending", Message.updated_at < cutoff
            )
        ).all()
    stuck = []
    for message_id in candidates:
        with transaction(runtime.sessions) as session:
            # Claimed one by one: several processes sweep, and each send gets one task, not several.
            claimed = session.execute(
                update(Message).where(Message.id == message_id, Message.state == "sending").values(state="unconfirmed")
            ).rowcount
            if claimed:
                _officer_task(
                    session,
                    session.get(Message, message_id),
                    "send_unconfirmed",
                    "A send was interrupted; check whether the tenant got it.",
                )
                stuck.append(message_id)
    if stuck:
        log.warning("interrupted sends flagged for review", extra={"count": len(stuck)})
    return len(stuck)


def _record_send_failure(runtime, message_id: int, error: SendError) -> None:
    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
        message.error_code = error.code
        # A send that may have reached Twilio is never repeated blindly; a person checks it.
        message.state = "unconfirmed" if error.maybe_sent else "failed"
        message.status = "failed"
        kind = "check_contact_details" if error.permanent else "send_failed"
        _officer_task(session, message, kind, f"Sending failed (code {error.code}).")
        if error.code == "21610" and message.tenant_id:
            _set_opt_out(session.get(Tenant, message.tenant_id), message.channel, opted_out=True)
    metrics.SEND_FAILURES.labels(error.code or "none").inc()
    log.warning("message not sent", extra={"message_id": message_id, "error_code": error.code})


def record_status(runtime, form: dict) -> bool:
    """A delivery report from Twilio. Statuses only move forwards, whatever order they arrive in.

    The update is conditional on the status we read, so two reports racing for one
    message cannot overwrite each other; the loser reads again and decides again.
    """
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or status not in STATUS_RANK:
        return False
    error_code = str(form.get("ErrorCode") or "")[:16] or None

    for _attempt in range(5):
        with transaction(runtime.sessions) as session:
            current = session.execute(
                select(Message.id, Message.status, Message.direction).where(Message.twilio_sid == sid)
            ).first()
            if current is None or current.direction != "outbound":
                return False
            if STATUS_RANK[status] <= STATUS_RANK.get(current.status, -1):
                return True
            changed = session.execute(
                update(Message)
                .where(Message.id == current.id, Message.status == current.status)
                .values(status=status, error_code=error_code or Message.error_code)
            ).rowcount
            if not changed:
                continue
            message = session.get(Message, current.id)
            retry_id = None
            not_delivered = status in ("failed", "undelivered")
            if not_delivered and message.channel == "whatsapp" and error_code in whatsapp.RETRY_BY_SMS:
                retry_id = _retry_by_sms(session, message, error_code)
            elif not_delivered and error_code in PERMANENT_ERRORS:
                _officer_task(
                    session, message, "check_contact_details", f"Message could not be delivered (code {error_code})."
                )
        if retry_id:
            runtime.worker.submit_delivery(retry_id)
        return True
    return False


def _retry_by_sms(session, message: Message, error_code: str) -> int | None:
    """WhatsApp could not deliver it: send the same words once by SMS, and keep why."""
    if (message.raw or {}).get("retried_as"):
        return None
    if message.tenant_id and adjustments.discreet_for(session, message.tenant_id):
        # SMS may not be safe for this tenant: a person decides how to reach them.
        _officer_task(session, message, "safeguarding", f"WhatsApp failed ({error_code}); not retried by SMS.")
        return None
    address = split_address(message.to_address)[1]
    conversation = conversation_for(session, address, "sms")
    copy = outbound(
        conversation,
        message.body,
        visit_id=message.visit_id,
        template_key=message.template_key,
        reply_to_id=message.reply_to_id,
        raw={
            **(message.raw or {}),
            "routing": f"WhatsApp failed with {error_code}; sent by SMS",
            "retry_of": message.id,
        },
    )
    session.add(copy)
    session.flush()
    message.raw = {**(message.raw or {}), "retried_as": copy.id}
    log.info("whatsapp failure retried by sms", extra={"message_id": message.id, "error_code": error_code})
    return copy.id


def _opted_out(tenant: Tenant, channel: str) -> bool:
    return tenant.whatsapp_opted_out if channel == "whatsapp" else tenant.sms_opted_out
