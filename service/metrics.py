"""Prometheus metrics: messages in and out, reply latency, queue depth, handoffs and errors.

Counters live in each process; in scaled mode (several web and worker
processes) PROMETHEUS_MULTIPROC_DIR is set and a scrape of any web process adds
up every process's counters, prometheus_client's multiprocess way. Queue depths
are read from the database (and Redis) when Prometheus scrapes, so they are
right whichever process did the work. Labels never carry a phone number, a name or
message text.
"""

import os
from datetime import timedelta

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from store.models import Message, Reminder

MESSAGES_IN = Counter("assistant_messages_in_total", "Inbound messages stored", ["channel"])
MESSAGES_OUT = Counter("assistant_messages_out_total", "Outbound messages handed to Twilio", ["channel", "route"])
SEND_FAILURES = Counter("assistant_send_failures_total", "Outbound messages Twilio did not take", ["code"])
REPLY_SECONDS = Histogram(
    "assistant_reply_seconds",
    "From a tenant's message stored to our reply handed to Twilio",
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
HANDOFFS = Counter("assistant_handoffs_total", "Conversations passed to a person", ["reason"])
THROTTLED = Counter("assistant_messages_throttled_total", "Inbound messages kept but not answered (flooding)")
ERRORS = Counter("assistant_background_errors_total", "Background work that failed and waits for a retry")
SPOOLED = Counter("assistant_webhooks_spooled_total", "Webhooks kept on disk while the database was away")
# Set at scrape time by whichever process is scraped: the most recent value is the true one.
QUEUE = Gauge("assistant_queue_depth", "Work waiting", ["kind"], multiprocess_mode="mostrecent")


def observe_reply(inbound_created_at, now) -> None:
    if inbound_created_at is not None:
        REPLY_SECONDS.observe(max((now - inbound_created_at) / timedelta(seconds=1), 0.0))


def exposition(runtime) -> tuple[bytes, str]:
    """The text Prometheus scrapes, with the queue depths read fresh."""
    with runtime.sessions() as session:
        waiting_in = session.scalar(
            select(func.count(Message.id)).where(Message.direction == "inbound", Message.state == "received")
        )
        waiting_out = session.scalar(
            select(func.count(Message.id)).where(Message.direction == "outbound", Message.state == "pending")
        )
        reminders_due = session.scalar(
            select(func.count(Reminder.id)).where(Reminder.status == "pending", Reminder.due_at <= runtime.clock())
        )
    QUEUE.labels("inbound_waiting").set(waiting_in or 0)
    QUEUE.labels("outbound_waiting").set(waiting_out or 0)
    QUEUE.labels("reminders_due").set(reminders_due or 0)
    jobs = getattr(runtime.worker, "queue_length", lambda: None)()
    if jobs is not None:
        QUEUE.labels("jobs_queued").set(jobs)

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
