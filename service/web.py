"""HTTP endpoints: Twilio's webhooks, the action server's callback, and health."""

import hmac
import logging
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import parse_qsl

from flask import Blueprint, Response, abort, current_app, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from twilio.request_validator import RequestValidator

from service import logs, messaging, metrics, recovery

log = logging.getLogger(__name__)
bp = Blueprint("web", __name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Webhooks' database work runs on these threads, so a request can stop waiting for it (see below).
_STORE = ThreadPoolExecutor(max_workers=32, thread_name_prefix="webhook-store")
STORE_DEADLINE_SECONDS = 8
# Rasa's sender id for our conversations; ASCII digits only, and short enough for a database id.
CONVERSATION_ID = re.compile(r"conversation-([0-9]{1,15})", re.ASCII)
MAX_ROW_ID = 2**53


def runtime():
    return current_app.extensions["assistant"]


@bp.post("/twilio/inbound")
def twilio_inbound():
    """A tenant's SMS or WhatsApp message. Stored first, answered in the background."""
    form = _form()
    _require_twilio_signature(form)
    assistant = runtime()

    def store() -> None:
        if recovery.spool_waiting(assistant.settings):
            # Messages kept during an outage go in first, briefly: the sweep stores the rest, and
            # each keeps its real arrival time, which sets the order it is answered in.
            recovery.replay_spool(assistant, budget_seconds=2)
        messaging.accept_inbound(assistant, form)

    _stored_in_time(store, assistant.settings, "inbound", form)
    # An empty answer tells Twilio we have it, so it does not retry; replies go out by the API.
    return Response(EMPTY_TWIML, mimetype="application/xml")


@bp.post("/twilio/status")
def twilio_status():
    form = _form()
    _require_twilio_signature(form)
    assistant = runtime()
    _stored_in_time(lambda: messaging.record_status(assistant, form), assistant.settings, "status", form)
    return Response(EMPTY_TWIML, mimetype="application/xml")


def _stored_in_time(store, settings, kind: str, form: dict) -> None:
    """Run a webhook's database work with a deadline; on an outage, keep the webhook on disk.

    A database that is down refuses at once, but one that stops answering (a failover, a
    partition) would hold the request past Twilio's 15 seconds. If the work lands after all,
    the replay finds the message already stored (its Twilio id is unique) and skips it.
    """
    work = _STORE.submit(store)
    try:
        work.result(timeout=STORE_DEADLINE_SECONDS)
    except FutureTimeout:
        log.warning("database too slow for the webhook: kept in the spool", extra={"kind": kind})
        recovery.keep_for_later(settings, kind, form)
    except SQLAlchemyError as error:
        if not recovery.database_unreachable(error):
            raise
        # The database is away (a restart, a failover): keep the message on disk rather than lose it.
        recovery.keep_for_later(settings, kind, form)


@bp.post("/internal/assistant/turn")
def assistant_turn():
    """Rasa's action server asking us to carry out an action for one stored message."""
    supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(supplied.encode(), runtime().settings.assistant_token.encode()):
        abort(401)
    turn = _turn_request(request.get_json(silent=True))
    if turn is None:
        return jsonify({"handled": False, "reason": "not a turn for a stored message"}), 400
    # Rasa's callback is another request: it carries the ids again for the logs of the action.
    with logs.context(message_id=turn["message_id"], conversation_id=turn["conversation_id"]):
        handled = messaging.answer_turn(runtime(), **turn)
    return jsonify({"handled": handled})


def _turn_request(body) -> dict | None:
    """The action server's JSON, checked field by field; None when any part is unusable."""
    if not isinstance(body, dict):
        return None
    conversation = CONVERSATION_ID.fullmatch(str(body.get("conversation", "")))
    message_id = body.get("message_id")
    intent = body.get("intent", {})
    if not isinstance(intent, dict):
        return None
    try:
        confidence = float(intent.get("confidence") or 0.0)
    except (TypeError, ValueError):
        return None
    if (
        conversation is None
        or type(message_id) is not int
        or not 0 < message_id < MAX_ROW_ID
        or not math.isfinite(confidence)
        or not isinstance(body.get("action"), str)
    ):
        return None
    return {
        "conversation_id": int(conversation.group(1)),
        "message_id": message_id,
        "action": body["action"],
        "intent": str(intent.get("name") or ""),
        # Out-of-range confidences are clamped so the "doubtful yes" check still works.
        "confidence": min(max(confidence, 0.0), 1.0),
    }


@bp.get("/metrics")
def metrics_endpoint():
    """Prometheus metrics: with METRICS_TOKEN set, that bearer token; otherwise loopback only."""
    token = os.environ.get("METRICS_TOKEN", "")
    supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and not hmac.compare_digest(supplied.encode(), token.encode()):
        abort(401)
    if not token and request.remote_addr not in ("127.0.0.1", "::1"):
        abort(403)
    body, content_type = metrics.exposition(runtime())
    return Response(body, content_type=content_type)


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
    found = {
        "database": database,
        "rasa": _rasa_state(runtime().rasa),
        "twilio": "simulator" if runtime().settings.use_simulator else "twilio",
    }
    if runtime().settings.scaled:
        # Scaled mode's job queue and Rasa's lock store.
        found["redis"] = "ok" if runtime().worker.reachable() else "unavailable"
    return found


def _rasa_state(rasa) -> str:
    if rasa.is_ready():
        return "ok"
    return "unavailable" if rasa.was_ready else "starting"


def _form() -> dict:
    """The posted fields, first value of each.

    Werkzeug drops a whole form that holds one invalid UTF-8 byte; read it
    ourselves then, with the bad bytes replaced, so nothing else is lost.
    """
    # Read the bytes first: once the form parser has consumed the stream they are gone.
    raw = request.get_data(cache=True)
    form = request.form.to_dict()
    if not form and raw and request.mimetype == "application/x-www-form-urlencoded":
        pairs = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
        form = {}
        for key, value in pairs:
            form.setdefault(key, value)
    return form


def _require_twilio_signature(form: dict) -> None:
    """Reject anything Twilio did not sign for the address it called (BR-01, BR-03)."""
    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(runtime().settings.twilio_auth_token)
    if not signature or not validator.validate(_public_url(), form, signature):
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
