"""HTTP endpoints: Twilio's webhooks, the action server's callback, and health."""

import hmac
import logging

from flask import Blueprint, Response, abort, current_app, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from twilio.request_validator import RequestValidator

from service import messaging

log = logging.getLogger(__name__)
bp = Blueprint("web", __name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def runtime():
    return current_app.extensions["assistant"]


@bp.post("/twilio/inbound")
def twilio_inbound():
    """A tenant's SMS or WhatsApp message. Stored first, answered in the background."""
    _require_twilio_signature()
    message, duplicate = messaging.store_inbound(runtime(), request.form.to_dict())
    if duplicate:
        log.info("duplicate webhook ignored", extra={"message_id": message.id if message else None})
    elif message.conversation_id:
        runtime().worker.submit_conversation(message.conversation_id)
    # An empty answer tells Twilio we have it, so it does not retry; replies go out by the API.
    return Response(EMPTY_TWIML, mimetype="application/xml")


@bp.post("/twilio/status")
def twilio_status():
    _require_twilio_signature()
    messaging.record_status(runtime(), request.form.to_dict())
    return Response(EMPTY_TWIML, mimetype="application/xml")


@bp.post("/internal/assistant/turn")
def assistant_turn():
    """Rasa's action server asking us to carry out an action for one stored message."""
    supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(supplied.encode(), runtime().settings.assistant_token.encode()):
        abort(401)
    body = request.get_json(silent=True) or {}
    conversation_id = _conversation_id(body.get("conversation"))
    message_id = body.get("message_id")
    intent = body.get("intent") or {}
    if conversation_id is None or not isinstance(message_id, int):
        return jsonify({"handled": False, "reason": "no stored message for this turn"})
    handled = messaging.answer_turn(
        runtime(),
        conversation_id,
        message_id,
        action=str(body.get("action", "")),
        intent=str(intent.get("name", "")),
        confidence=float(intent.get("confidence") or 0.0),
    )
    return jsonify({"handled": handled})


@bp.get("/health")
def health():
    """Each dependency's state. Always 200 while the web app itself can answer."""
    return jsonify(_dependencies()), 200


@bp.get("/ready")
def ready():
    """For a load balancer: 503 until the database and the model can answer (BR-10).

    Twilio's webhook is still accepted meanwhile: messages are stored and wait.
    """
    dependencies = _dependencies()
    ok = dependencies["database"] == "ok" and dependencies["rasa"] == "ok"
    return jsonify(dependencies), 200 if ok else 503


def _dependencies() -> dict:
    try:
        with runtime().sessions() as session:
            session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        log.exception("database check failed")
        database = "unavailable"
    return {
        "database": database,
        "rasa": "ok" if runtime().rasa.is_ready() else "starting",
        "twilio": "simulator" if runtime().settings.use_simulator else "twilio",
    }


def _conversation_id(sender_id) -> int | None:
    prefix = "conversation-"
    if isinstance(sender_id, str) and sender_id.startswith(prefix) and sender_id[len(prefix) :].isdigit():
        return int(sender_id[len(prefix) :])
    return None


def _require_twilio_signature() -> None:
    """Reject anything Twilio did not sign for the address it called (BR-01, BR-03)."""
    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(runtime().settings.twilio_auth_token)
    if not signature or not validator.validate(_public_url(), request.form.to_dict(), signature):
        log.warning("webhook signature rejected", extra={"path": request.path})
        abort(403)


def _public_url() -> str:
    """The URL Twilio signed: the configured public address, not the one behind a TLS proxy."""
    settings = runtime().settings
    path = request.full_path if request.query_string else request.path
    if settings.public_url:
        return settings.public_url + path
    if settings.trust_proxy_headers:
        scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
        return f"{scheme}://{host}{path}"
    return request.url
