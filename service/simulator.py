"""A local stand-in for Twilio's Messages API, for development and tests.

The official twilio client talks to it exactly as it talks to Twilio (see
twilio_gateway.SimulatorHttpClient), so nothing of ours is mocked. It keeps
what was sent in memory, sends signed delivery callbacks like Twilio does, and
can be told to fail (rate limits, server errors, slowness) to exercise retries.
"""

import itertools
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

import requests
from flask import Flask, jsonify, request
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

log = logging.getLogger(__name__)

API_PREFIX = "/2010-04-01/Accounts/<account_sid>"


@dataclass
class Faults:
    """Answers to give instead of accepting a message, consumed in order."""

    # HTTP statuses or Twilio error codes: [429, 500, "21610"]; "async:63016" is accepted, then reported failed.
    queued: list = field(default_factory=list)
    delay_seconds: float = 0.0


class SimulatorState:
    def __init__(self, auth_token: str, callback_delay: float = 0.05):
        self.auth_token = auth_token
        self.callback_delay = callback_delay
        self.messages: list[dict] = []
        self.faults = Faults()
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.callbacks_in_flight = 0

    def wait_for_callbacks(self, timeout: float = 5.0) -> None:
        """Tests: let every delivery report already started reach the app."""
        deadline = time.monotonic() + timeout
        while self.callbacks_in_flight and time.monotonic() < deadline:
            time.sleep(0.01)

    def next_fault(self):
        with self.lock:
            return self.faults.queued.pop(0) if self.faults.queued else None


def create_simulator_app(auth_token: str, callback_delay: float = 0.05) -> Flask:
    app = Flask(__name__)
    state = SimulatorState(auth_token, callback_delay)
    app.extensions["twilio_simulator"] = state

    @app.post(API_PREFIX + "/Messages.json")
    def create_message(account_sid):
        if state.faults.delay_seconds:
            time.sleep(state.faults.delay_seconds)
        fault = state.next_fault()
        failure_later = None
        if isinstance(fault, str) and fault.startswith("async:"):
            # Accepted now, reported failed later, as WhatsApp does outside its window (63016).
            failure_later, fault = fault.removeprefix("async:"), None
        if isinstance(fault, str):
            # A Twilio error code such as "21610" (the number opted out): refused with a 400.
            return _error(400, code=int(fault), message="The message could not be sent.")
        if fault:
            return _error(fault)

        form = request.form
        if not form.get("To") or not (form.get("Body") or form.get("ContentSid")):
            return _error(400, code=21602, message="Message body is required.")

        message = {
            "sid": "SM" + secrets.token_hex(16),
            "account_sid": account_sid,
            "to": form["To"],
            "from": form.get("From", ""),
            "body": form.get("Body", ""),
            "content_sid": form.get("ContentSid"),
            "content_variables": form.get("ContentVariables"),
            "status": "queued",
            "status_callback": form.get("StatusCallback"),
            "fails_with": failure_later,
            "sequence": next(state.counter),
            "accepted_at": time.time(),
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
        }
        with state.lock:
            state.messages.append(message)
        if message["status_callback"]:
            with state.lock:
                state.callbacks_in_flight += 1
            threading.Thread(target=_deliver, args=(state, message), daemon=True).start()
        return jsonify(_public(message)), 201

    @app.get(API_PREFIX + "/Messages/<sid>.json")
    def fetch_message(account_sid, sid):
        with state.lock:
            found = next((m for m in state.messages if m["sid"] == sid), None)
        if not found:
            return _error(404, code=20404, message="The requested resource was not found")
        return jsonify(_public(found))

    @app.get("/sim/messages")
    def list_messages():
        """Sent messages, oldest first, optionally only to one address or after a sequence number."""
        to = request.args.get("to")
        after = int(request.args.get("after", 0))
        with state.lock:
            found = [m for m in state.messages if m["sequence"] > after and (not to or m["to"] == to)]
        return jsonify([_public(m) | {"sequence": m["sequence"], "accepted_at": m["accepted_at"]} for m in found])

    @app.post("/sim/faults")
    def set_faults():
        body = request.get_json(force=True)
        with state.lock:
            state.faults = Faults(
                queued=list(body.get("queued", [])), delay_seconds=float(body.get("delay_seconds", 0))
            )
        return jsonify({"ok": True})

    @app.post("/sim/reset")
    def reset():
        with state.lock:
            state.messages.clear()
            state.faults = Faults()
        return jsonify({"ok": True})

    return app


def _public(message: dict) -> dict:
    keys = ("sid", "account_sid", "to", "from", "body", "content_sid", "content_variables", "status", "date_created")
    shown = {key: message[key] for key in keys}
    shown.update(num_segments="1", direction="outbound-api", error_code=None, error_message=None, price=None, uri="")
    return shown


def _error(status: int, code: int | None = None, message: str | None = None):
    defaults = {
        429: (20429, "Too Many Requests"),
        500: (20500, "Internal Server Error"),
        503: (20503, "Service Unavailable"),
    }
    default_code, default_message = defaults.get(status, (status, "Error"))
    body = {"code": code or default_code, "message": message or default_message, "status": status, "more_info": ""}
    return jsonify(body), status


def _deliver(state: SimulatorState, message: dict) -> None:
    """Report sent then delivered, signed with the account's auth token, as Twilio does."""
    try:
        _post_statuses(state, message)
    finally:
        with state.lock:
            state.callbacks_in_flight -= 1


def _post_statuses(state: SimulatorState, message: dict) -> None:
    validator = RequestValidator(state.auth_token)
    statuses = ("sent", "failed") if message.get("fails_with") else ("sent", "delivered")
    for status in statuses:
        time.sleep(state.callback_delay)
        message["status"] = status
        params = {
            "MessageSid": message["sid"],
            "MessageStatus": status,
            "AccountSid": message["account_sid"],
            "To": message["to"],
            "From": message["from"],
        }
        if status == "failed":
            params["ErrorCode"] = message["fails_with"]
        signature = validator.compute_signature(message["status_callback"], params)
        try:
            requests.post(message["status_callback"], data=params, headers={"X-Twilio-Signature": signature}, timeout=5)
        except requests.RequestException:
            log.warning("simulator could not deliver a status callback", extra={"message_sid": message["sid"]})


class SimulatorServer:
    """Runs the simulator on a local port in a background thread."""

    def __init__(self, auth_token: str, host: str = "127.0.0.1", port: int = 0, callback_delay: float = 0.05):
        self.app = create_simulator_app(auth_token, callback_delay)
        self.server = make_server(host, port, self.app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def state(self) -> SimulatorState:
        return self.app.extensions["twilio_simulator"]

    def start(self) -> "SimulatorServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
