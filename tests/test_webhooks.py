"""Webhooks on visit status changes: stored with the change, signed, retried, delivered once.

A small HTTP server on 127.0.0.1 plays the provider's system: it records what it
receives and answers with the statuses a test gives it.
"""

import dataclasses
import json
import threading
import time
from datetime import timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from service import operatives, visits, webhooks
from service.openapi import document
from service.slots import Slot
from store.db import transaction
from store.models import Visit, WebhookDelivery
from tests.conftest import free_port
from tests.factories import create_operative, create_tenant, create_visit, london

SECRET = "test-webhook-secret-not-real"
START = london(2031, 5, 20, 10, 0)  # ahead of the real clock the sender uses


class Receiver:
    """The provider's end: keeps every request, answers with the next scripted status (then 200)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/visits"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def configure(runtime, monkeypatch, urls):
    """Point webhooks at `urls` for this test only (config.yml has none)."""
    raw = {**runtime.settings.raw, "webhooks": {**webhooks.DEFAULTS, "urls": urls, "poll_seconds": 0.1}}
    monkeypatch.setattr(runtime, "settings", dataclasses.replace(runtime.settings, raw=raw))
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    webhooks.attach(runtime.sessions, runtime.settings)


@pytest.fixture
def hooked(runtime, receiver, monkeypatch):
    original = runtime.settings
    configure(runtime, monkeypatch, [receiver.url])
    yield runtime
    webhooks.attach(runtime.sessions, original)


@pytest.fixture
def visit(hooked):
    create_operative(hooked)
    tenant = create_tenant(hooked)
    with transaction(hooked.sessions) as session:
        session.get(type(tenant), tenant.id).reference = "T-100"
    return create_visit(hooked, tenant, START, reference="GAS-4001")


def deliveries(runtime) -> list[WebhookDelivery]:
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def confirm(runtime, visit_id, actor="tenant"):
    with transaction(runtime.sessions) as session:
        visits.confirm_visit(session, session.get(Visit, visit_id), actor)


def event_schema(settings) -> Draft202012Validator:
    """The published document's schema for a webhook's body."""
    spec = document(settings)
    return Draft202012Validator({"$ref": "#/components/schemas/WebhookEvent", "components": spec["components"]})


# Stored with the change.


def test_the_event_is_stored_in_the_transaction_that_makes_the_change(hooked, visit):
    with pytest.raises(RuntimeError), transaction(hooked.sessions) as session:
        visits.confirm_visit(session, session.get(Visit, visit.id), "tenant")
        raise RuntimeError("the change fails after the event was added")
    assert deliveries(hooked) == []

    confirm(hooked, visit.id)
    [stored] = deliveries(hooked)
    assert (
        stored.event_type == "visit.confirmed" and stored.status == "pending" and stored.url.endswith("/hooks/visits")
    )
    event = json.loads(stored.body)
    event_schema(hooked.settings).validate(event)
    assert event["by"] == "tenant" and event["visit"]["reference"] == "GAS-4001"
    assert event["visit"]["status"] == "confirmed" and event["visit"]["tenant_reference"] == "T-100"
    assert "Amara" not in stored.body and "+447700900123" not in stored.body  # no tenant's name or number


def test_each_kind_of_status_change_is_an_event_and_other_history_is_not(hooked, visit):
    confirm(hooked, visit.id, actor="officer:7")
    with transaction(hooked.sessions) as session:
        moving = session.get(Visit, visit.id)
        later = Slot(START + timedelta(days=1), START + timedelta(days=1, hours=1), moving.operative_id)
        visits.move_visit(session, moving, later, "assistant", hooked.settings, hooked.clock())
        visits.record(session, moving, "on_my_way", "operative:Van 42")  # progress on the day: not an event
        operatives.record_missed(session, moving, "system", hooked.clock(), "nobody came")
        visits.cancel_visit(session, moving, "tenant")

    events = [json.loads(row.body) for row in deliveries(hooked)]
    assert [event["type"] for event in events] == [
        "visit.confirmed",
        "visit.moved",
        "visit.confirmed",
        "visit.missed_by_provider",
        "visit.cancelled",
    ]
    assert events[1]["visit"]["previous_slot_start"] == START.astimezone(timezone.utc).isoformat()
    assert [event["by"] for event in events] == ["officer", "assistant", "assistant", "system", "tenant"]
    assert len({event["id"] for event in events}) == 5


def test_a_move_by_the_hms_is_one_event_and_says_the_visit_is_booked_again(hooked, visit):
    confirm(hooked, visit.id)
    with transaction(hooked.sessions) as session:
        moving = session.get(Visit, visit.id)
        later = Slot(START + timedelta(days=1), START + timedelta(days=1, hours=1), moving.operative_id)
        visits.move_visit(session, moving, later, "hms:Scheduler", hooked.settings, hooked.clock(), agreed=False)

    moved = json.loads(deliveries(hooked)[-1].body)
    assert (moved["type"], moved["by"], moved["visit"]["status"]) == ("visit.moved", "hms", "booked")
    assert len(deliveries(hooked)) == 2  # confirmed, then moved: the tenant has not confirmed the new time


def test_no_addresses_configured_means_nothing_is_stored(runtime):
    create_operative(runtime)
    visit = create_visit(runtime, create_tenant(runtime), START)
    confirm(runtime, visit.id)
    assert deliveries(runtime) == []


# Sent, signed, retried.


def test_the_event_is_signed_and_delivered_once(hooked, visit, receiver):
    confirm(hooked, visit.id)
    assert webhooks.deliver_due(hooked) == {"delivered": 1, "failed": 0}
    assert webhooks.deliver_due(hooked) == {"delivered": 0, "failed": 0}

    [request] = receiver.received()
    [stored] = deliveries(hooked)
    headers = request["headers"]
    assert request["body"] == stored.body and headers["X-Webhook-Id"] == stored.event_id
    assert webhooks.signature_is_valid(
        SECRET, headers["X-Webhook-Timestamp"], request["body"], headers["X-Webhook-Signature"]
    )
    assert not webhooks.signature_is_valid(
        "another secret", headers["X-Webhook-Timestamp"], request["body"], headers["X-Webhook-Signature"]
    )
    assert stored.status == "delivered" and stored.attempts == 1


def test_a_failed_delivery_is_retried_later_with_the_same_event(hooked, visit, receiver):
    receiver.statuses = [500]
    confirm(hooked, visit.id)
    first_try = webhooks.deliver_due(hooked)
    assert first_try == {"delivered": 0, "failed": 1}
    [waiting] = deliveries(hooked)
    assert waiting.status == "pending" and waiting.attempts == 1 and waiting.last_error == "HTTP 500"
    gap = waiting.next_attempt_at - waiting.created_at
    assert timedelta(seconds=25) < gap < timedelta(seconds=35)

    assert webhooks.deliver_due(hooked) == {"delivered": 0, "failed": 0}  # not due yet
    assert webhooks.deliver_due(hooked, now=waiting.next_attempt_at) == {"delivered": 1, "failed": 0}

    first, second = receiver.received()
    assert first["body"] == second["body"] and first["headers"]["X-Webhook-Id"] == second["headers"]["X-Webhook-Id"]
    assert deliveries(hooked)[0].status == "delivered"


def test_the_gaps_between_tries_double_up_to_the_longest(hooked):
    rules = webhooks.config(hooked.settings)
    gaps = [webhooks.backoff(attempt, rules).total_seconds() for attempt in (1, 2, 3, 10, 30)]
    assert 27 <= gaps[0] <= 30 and 54 <= gaps[1] <= 60 and 108 <= gaps[2] <= 120
    assert 3240 <= gaps[3] <= 3600 and gaps[4] <= 3600


def test_a_receiver_that_is_down_never_holds_up_the_change(hooked, monkeypatch):
    configure(hooked, monkeypatch, [f"http://127.0.0.1:{free_port()}/nobody-listens"])
    create_operative(hooked)
    visit = create_visit(hooked, create_tenant(hooked), START)

    started = time.monotonic()
    confirm(hooked, visit.id)
    assert time.monotonic() - started < 1

    assert webhooks.deliver_due(hooked) == {"delivered": 0, "failed": 1}
    [waiting] = deliveries(hooked)
    assert waiting.status == "pending" and "ConnectionError" in waiting.last_error


def test_a_delivery_held_by_a_sender_is_not_sent_twice_and_one_left_by_a_dead_sender_goes_again(
    hooked, visit, receiver
):
    confirm(hooked, visit.id)
    [stored] = deliveries(hooked)
    now = stored.next_attempt_at
    assert webhooks._claim(hooked, stored.id, now, lease=timedelta(seconds=70)) is not None  # another sender has it

    assert webhooks.deliver_due(hooked, now=now) == {"delivered": 0, "failed": 0}
    assert receiver.received() == []
    # That sender died mid-send: once its hold runs out, the event goes.
    assert webhooks.deliver_due(hooked, now=now + timedelta(seconds=71)) == {"delivered": 1, "failed": 0}
    assert len(receiver.received()) == 1


def test_every_address_gets_the_event(hooked, visit, receiver, monkeypatch):
    second = Receiver()
    try:
        configure(hooked, monkeypatch, [receiver.url, second.url])
        confirm(hooked, visit.id)
        assert webhooks.deliver_due(hooked) == {"delivered": 2, "failed": 0}
        assert receiver.received()[0]["body"] == second.received()[0]["body"]
    finally:
        second.close()


def test_the_sender_thread_delivers_in_the_background(hooked, visit, receiver):
    sender = webhooks.start_sender(hooked)
    try:
        confirm(hooked, visit.id)
        deadline = time.monotonic() + 10
        while not receiver.received() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sender.stop()
    assert len(receiver.received()) == 1


def test_without_the_secret_nothing_is_sent_and_the_events_wait(hooked, visit, receiver, monkeypatch):
    monkeypatch.delenv("WEBHOOK_SECRET")
    confirm(hooked, visit.id)
    with pytest.raises(webhooks.MissingSecret):
        webhooks.deliver_due(hooked)
    assert webhooks.start_sender(hooked) is None
    assert receiver.received() == [] and deliveries(hooked)[0].status == "pending"
