"""Signed webhooks to the provider's systems when a visit's status changes.

An event is stored in `webhook_deliveries` (one row per address) by
visits.record(), in the transaction that makes the change: if the change rolls
back, so does the event, and no committed change is without its event. A
sender (a thread in the web app, or `flask --app app send-webhooks`) posts each
one later, so a slow or broken receiver never holds up a tenant's reply, and
retries with growing gaps until the receiver answers 2xx. Nothing is dropped.

Each POST carries the JSON event (see hms_schemas.WebhookEvent) and headers:

    X-Webhook-Id:        the event's id (the same on every retry: receivers drop repeats)
    X-Webhook-Timestamp: when this attempt was sent, in Unix seconds
    X-Webhook-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>
"""

import hashlib
import hmac
import json
import logging
import os
import random
import threading
import uuid
from datetime import datetime, timedelta, timezone

import click
import requests
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from store.db import transaction
from store.models import Visit, WebhookDelivery

log = logging.getLogger(__name__)

# Visit history statuses that are news for the provider's systems, and the event each one is.
EVENT_TYPES = {
    "confirmed": "visit.confirmed",
    "cancelled": "visit.cancelled",
    "moved": "visit.moved",
    "completed": "visit.completed",
    "no_access": "visit.no_access",
    "missed_by_provider": "visit.missed_by_provider",
}
# Who made the change, as the event says it: the part of the actor before its colon.
ACTOR_KINDS = ("tenant", "assistant", "officer", "operative", "hms", "import", "system")
DEFAULTS = {
    "urls": [],
    "secret_env": "WEBHOOK_SECRET",
    "timeout_seconds": 10,
    "retry_first_seconds": 30,
    "retry_max_seconds": 3600,
    "poll_seconds": 5,
}
# Where the configured addresses travel with each database session, so record() needs no settings.
URLS_KEY = "webhook_urls"
SIGNATURE_HEADER = "X-Webhook-Signature"
BATCH = 50


class MissingSecret(RuntimeError):
    """Webhooks are configured but their secret is not in the environment: nothing is sent unsigned."""


def config(settings) -> dict:
    return {**DEFAULTS, **settings.section("webhooks")}


def attach(sessions: sessionmaker, settings) -> None:
    """Give every session made by `sessions` the configured webhook addresses."""
    urls = [url.strip() for url in config(settings)["urls"] or [] if url and url.strip()]
    for url in urls:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"webhooks.urls: {url!r} is not an http(s) address")
    sessions.configure(info={URLS_KEY: tuple(urls)})


def secret(settings) -> str:
    name = config(settings)["secret_env"]
    value = os.environ.get(name, "")
    if not value:
        raise MissingSecret(f"webhooks are configured but ${name} is empty: events wait until it is set")
    return value


# Storing events.


def queue_visit_event(session: Session, visit: Visit, status: str, actor: str, details: dict) -> None:
    """Store the event for each address, if `status` is news and webhooks are configured."""
    urls = session.info.get(URLS_KEY) or ()
    if status not in EVENT_TYPES or not urls:
        return
    occurred_at = details.get("at") or datetime.now(timezone.utc)
    event_id = f"evt_{uuid.uuid4().hex}"
    body = event_body(visit, event_id, EVENT_TYPES[status], actor, occurred_at, details.get("old_slot_start"))
    for url in urls:
        session.add(
            WebhookDelivery(
                event_id=event_id,
                event_type=EVENT_TYPES[status],
                visit_id=visit.id,
                url=url,
                body=body,
                status="pending",
                attempts=0,
                next_attempt_at=datetime.now(timezone.utc),
            )
        )


def event_body(visit: Visit, event_id: str, event_type: str, actor: str, occurred_at, previous_start) -> str:
    """The JSON sent: the visit as it stands after the change, and no tenant's name, number or address."""
    kind = actor.split(":", 1)[0]
    event = {
        "id": event_id,
        "type": event_type,
        "occurred_at": occurred_at.astimezone(timezone.utc).isoformat(),
        "by": kind if kind in ACTOR_KINDS else "system",
        "visit": {
            "reference": visit.reference,
            "visit_type": visit.visit_type,
            "status": visit.status,
            "slot": {"start": _iso(visit.slot_start), "end": _iso(visit.slot_end)},
            "previous_slot_start": _iso(previous_start) if previous_start else None,
            "tenant_reference": visit.tenant.reference if visit.tenant else None,
            "property_reference": visit.home.reference if visit.home else None,
            "operative_reference": visit.operative.reference if visit.operative else None,
            "missed_by_provider": visit.missed_by_provider_at is not None,
        },
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


# Signing.


def signature(secret_value: str, timestamp: int, body: str) -> str:
    digest = hmac.new(secret_value.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_is_valid(secret_value: str, timestamp: str, body: str, presented: str) -> bool:
    """What a receiver does (and our tests do): recompute, compare in constant time."""
    return hmac.compare_digest(signature(secret_value, int(timestamp), body), presented or "")


# Sending.


def deliver_due(runtime, now: datetime | None = None) -> dict:
    """Send every delivery that is due, each claimed first so two senders never post it at once.

    Returns counts: delivered, failed (to be retried later).
    """
    now = now or datetime.now(timezone.utc)
    rules = config(runtime.settings)
    secret_value = secret(runtime.settings)
    counts = {"delivered": 0, "failed": 0}
    while True:
        due = _due_ids(runtime, now)
        for delivery_id in due:
            outcome = _deliver_one(runtime, delivery_id, now, rules, secret_value)
            if outcome:
                counts[outcome] += 1
        if len(due) < BATCH:
            return counts


def _due_ids(runtime, now: datetime) -> list[int]:
    with transaction(runtime.sessions) as session:
        return list(
            session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now),
                )
                .order_by(WebhookDelivery.id)
                .limit(BATCH)
            )
        )


def _deliver_one(runtime, delivery_id: int, now: datetime, rules: dict, secret_value: str) -> str | None:
    claimed = _claim(runtime, delivery_id, now, lease=timedelta(seconds=rules["timeout_seconds"] + 60))
    if claimed is None:
        return None
    url, body, event_id, attempts = claimed

    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "tenant-access-assistant-webhooks",
        "X-Webhook-Id": event_id,
        "X-Webhook-Timestamp": str(timestamp),
        SIGNATURE_HEADER: signature(secret_value, timestamp, body),
    }
    try:
        answer = requests.post(
            url, data=body.encode(), headers=headers, timeout=rules["timeout_seconds"], allow_redirects=False
        )
        problem = None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"
    except requests.RequestException as error:
        problem = f"{type(error).__name__}: {error}"

    if problem is None:
        _mark_delivered(runtime, delivery_id, now)
        return "delivered"
    retry_at = now + backoff(attempts, rules)
    _mark_failed(runtime, delivery_id, problem, retry_at)
    log.warning("webhook not delivered", extra={"event_id": event_id, "attempts": attempts, "problem": problem[:100]})
    return "failed"


def _claim(runtime, delivery_id: int, now: datetime, lease: timedelta) -> tuple | None:
    """Hold the delivery for one attempt; None if another sender holds it or it is done."""
    with transaction(runtime.sessions) as session:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == "pending",
                or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now),
            )
            .values(locked_until=now + lease, attempts=WebhookDelivery.attempts + 1)
        ).rowcount
        if not claimed:
            return None
        delivery = session.get(WebhookDelivery, delivery_id)
        return delivery.url, delivery.body, delivery.event_id, delivery.attempts


def _mark_delivered(runtime, delivery_id: int, now: datetime) -> None:
    with transaction(runtime.sessions) as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(status="delivered", delivered_at=now, locked_until=None, last_error=None)
        )


def _mark_failed(runtime, delivery_id: int, problem: str, retry_at: datetime) -> None:
    with transaction(runtime.sessions) as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(next_attempt_at=retry_at, locked_until=None, last_error=problem[:300])
        )


def backoff(attempts: int, rules: dict) -> timedelta:
    """Doubling from the first gap up to the longest, with a little jitter so receivers are not stampeded."""
    gap = min(rules["retry_first_seconds"] * 2 ** max(attempts - 1, 0), rules["retry_max_seconds"])
    return timedelta(seconds=gap * random.uniform(0.9, 1.0))


# The background sender.


class WebhookSender:
    """A thread in the web app that sends due webhooks every few seconds."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.poll_seconds = float(config(runtime.settings)["poll_seconds"])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)

    def start(self) -> "WebhookSender":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                deliver_due(self.runtime)
            except Exception:
                # The deliveries stay pending in the database; the next round tries again.
                log.exception("webhook sender round failed")
            self._stop.wait(self.poll_seconds)


def start_sender(runtime) -> WebhookSender | None:
    """Start the sender when webhooks are configured and signed; say why not otherwise."""
    if not config(runtime.settings)["urls"]:
        return None
    try:
        secret(runtime.settings)
    except MissingSecret as missing:
        log.error(str(missing))
        return None
    return WebhookSender(runtime).start()


@click.command("send-webhooks")
@with_appcontext
def send_webhooks_command():
    """Send the webhook events that are due now (the web app also sends them every few seconds)."""
    runtime = current_app.extensions["assistant"]
    try:
        counts = deliver_due(runtime)
    except MissingSecret as missing:
        raise click.ClickException(str(missing)) from missing
    click.echo(f"webhooks delivered: {counts['delivered']}, failed (will be retried): {counts['failed']}")
