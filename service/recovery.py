"""Putting right what a crash, a restart or a lost job left unfinished.

The database is the record of every message; the work queue (threads in the
embedded default, Redis in scaled mode) only carries reminders of what to do.
The sweep here runs at start-up and then every few seconds in each process
that does background work, and hands the queue again anything the database
still shows waiting: an inbound message not answered, an outbound one not sent.
Handing an item over twice is harmless, because each is claimed in the
database before anything is done with it.

When the database itself cannot be reached, the webhook keeps Twilio's request
in a spool file on local disk and answers 200; the sweep stores it once the
database is back, so a message that arrived during the outage is not lost.
"""

import json
import logging
import os
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service import messaging, metrics
from store.db import transaction
from store.models import Message

log = logging.getLogger(__name__)

SPOOL_KINDS = ("inbound", "status")


def database_unreachable(error: Exception) -> bool:
    """The database is away (down, restarting, out of connections), as opposed to refusing this data.

    Only then is a webhook kept in the spool: a message the database refuses would be refused
    again on every replay, and must fail loudly now instead.
    """
    if isinstance(error, (OperationalError, PoolTimeout)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


# The spool: Twilio's requests kept on disk while the database is away.


def spool_dir(settings) -> Path:
    return settings.var_dir / "spool"


def keep_for_later(settings, kind: str, form: dict) -> Path:
    """Write one webhook's fields to disk, whole or not at all (written aside, then renamed)."""
    folder = spool_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{kind}-{uuid.uuid4().hex}.json"
    partial = folder / f".{name}.part"
    with partial.open("w", encoding="utf-8") as file:
        json.dump({"kind": kind, "form": form, "received_at": messaging.utcnow().isoformat()}, file, ensure_ascii=False)
        file.flush()
        os.fsync(file.fileno())
    final = folder / name
    os.replace(partial, final)
    metrics.SPOOLED.inc()
    log.warning("database unavailable: webhook kept in the spool", extra={"kind": kind, "spool_file": name})
    return final


def spool_waiting(settings) -> bool:
    """Cheap enough for every webhook: is anything kept from an outage still to be stored?"""
    try:
        with os.scandir(spool_dir(settings)) as entries:
            return any(entry.name.endswith(".json") for entry in entries)
    except FileNotFoundError:
        return False


def replay_spool(runtime, budget_seconds: float | None = None) -> int:
    """Store what the spool holds, oldest first. Stops while the database is still away, or when
    `budget_seconds` have gone (a webhook replaying on its way in leaves the rest to the sweep)."""
    folder = spool_dir(runtime.settings)
    if not folder.exists():
        return 0
    replayed = 0
    deadline = time.monotonic() + budget_seconds if budget_seconds is not None else None
    for path in _waiting_files(folder):
        if deadline is not None and time.monotonic() > deadline:
            break
        # Claimed by renaming (atomic), and its time set to now: several processes sweep the same spool,
        # and a claim counts as abandoned only a minute after it was made.
        claimed = path.with_name(f"{path.name}.replaying-{os.getpid()}")
        try:
            path.rename(claimed)
            os.utime(claimed)
        except FileNotFoundError:
            continue
        try:
            kept = json.loads(claimed.read_text(encoding="utf-8"))
            kind, form = kept["kind"], dict(kept["form"])
            received_at = datetime.fromisoformat(kept["received_at"]) if kept.get("received_at") else None
            if kind == "status":
                messaging.record_status(runtime, form)
            else:
                messaging.accept_inbound(runtime, form, received_at)
        except Exception as error:
            if database_unreachable(error):
                _put_back(claimed, path)
                log.warning("database still unavailable; spool kept", extra={"spool_file": path.name})
                break
            # Unreadable, or refused by the database: set aside for a person, and carry on with the rest.
            log.exception("spooled webhook could not be stored; set aside", extra={"spool_file": path.name})
            _put_back(claimed, folder / f"{path.name}.failed")
            continue
        # Stored (or found already stored: a message's Twilio id is unique), so the file can go.
        claimed.unlink(missing_ok=True)
        replayed += 1
    if replayed:
        log.info("spooled webhooks stored", extra={"count": replayed})
    return replayed


def _put_back(claimed: Path, target: Path) -> None:
    try:
        claimed.rename(target)
    except FileNotFoundError:
        pass  # another process took it over as abandoned; it is theirs now


def _waiting_files(folder: Path) -> list[Path]:
    """Files to store, oldest first, with any a crashed process left half-replayed a minute ago."""
    waiting = list(folder.glob("*.json"))
    for abandoned in folder.glob("*.json.replaying-*"):
        try:
            if time.time() - abandoned.stat().st_mtime > 60:
                original = folder / abandoned.name.split(".replaying-")[0]
                abandoned.rename(original)
                waiting.append(original)
        except FileNotFoundError:
            continue
    return sorted(waiting)


# The sweep.


def resubmit_unfinished(runtime, older_than: timedelta) -> dict:
    """Hand the worker every conversation with an unanswered message and every unsent message."""
    cutoff = messaging.utcnow() - older_than
    with transaction(runtime.sessions) as session:
        waiting = session.scalars(
            select(Message.conversation_id)
            .where(
                Message.direction == "inbound",
                Message.state == "received",
                Message.conversation_id.is_not(None),
                Message.created_at <= cutoff,
            )
            .distinct()
        ).all()
        unsent = session.scalars(
            select(Message.id).where(
                Message.direction == "outbound", Message.state == "pending", Message.updated_at <= cutoff
            )
        ).all()
    for conversation_id in waiting:
        runtime.worker.submit_conversation(conversation_id)
    for message_id in unsent:
        runtime.worker.submit_delivery(message_id)
    if waiting or unsent:
        log.info("unfinished work handed over again", extra={"conversations": len(waiting), "outbound": len(unsent)})
    return {"conversations": len(waiting), "outbound": len(unsent)}


def send_left_over(runtime, stored_before: datetime) -> int:
    """Send the messages an earlier run stored but never handed over (a `reminders` run killed part
    way). Those stored since `stored_before` (this run's start) are left to whoever stored them."""
    with transaction(runtime.sessions) as session:
        unsent = session.scalars(
            select(Message.id).where(
                Message.direction == "outbound", Message.state == "pending", Message.created_at < stored_before
            )
        ).all()
    if runtime.settings.scaled:
        for message_id in unsent:
            runtime.worker.submit_delivery(message_id)
        return len(unsent)
    # Each is claimed before it is sent, so a process sending the same one at once is harmless.
    return sum(1 for message_id in unsent if messaging.deliver(runtime, message_id))


def sweep(runtime, older_than: timedelta, stuck_after: timedelta) -> dict:
    """Each step on its own: one failing (the database still away) does not stop the others."""
    done = {}
    steps = {
        "spooled": lambda: replay_spool(runtime),
        "resubmitted": lambda: resubmit_unfinished(runtime, older_than),
        "interrupted_sends": lambda: messaging.flag_interrupted_sends(runtime, older_than=stuck_after),
    }
    for name, step in steps.items():
        try:
            done[name] = step()
        except Exception:
            metrics.ERRORS.inc()
            log.exception("recovery step failed; trying again next round", extra={"step": name})
    return done


class Sweeper:
    """A daemon thread running `sweep` every few seconds; a failed round is logged and tried again."""

    def __init__(self, runtime, spool_only: bool = False):
        rules = runtime.settings.section("queue")
        self.runtime = runtime
        self.spool_only = spool_only
        self.every = float(rules.get("sweep_seconds", 15))
        # Young work is left alone: it is most likely in a queue or being handled right now.
        self.older_than = timedelta(seconds=float(rules.get("resubmit_after_seconds", 30)))
        self.stuck_after = timedelta(seconds=float(rules.get("send_stuck_after_seconds", 300)))
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="recovery-sweep", daemon=True)

    def start(self) -> "Sweeper":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _my_turn(self) -> bool:
        # In scaled mode one worker a round sweeps; the embedded default has only this one.
        turn = getattr(self.runtime.worker, "sweep_turn", None)
        return turn(self.every * 0.9) if turn else True

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                if self.spool_only:
                    replay_spool(self.runtime)
                elif self._my_turn():
                    sweep(self.runtime, self.older_than, self.stuck_after)
            except Exception:
                metrics.ERRORS.inc()
                log.exception("recovery sweep failed; trying again next round")
