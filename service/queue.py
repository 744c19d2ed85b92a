"""Scaled mode's background work: jobs on Redis with RQ, the database still the record of what is left.

The web processes only store a message and enqueue a job naming its
conversation; worker processes (`flask --app app work`) run the jobs. Redis can
lose a job (a restart, a crash) without losing a message: each job only says
"look at this conversation" or "send this message", and the recovery sweep in
every worker enqueues again whatever the database still shows unfinished.

One tenant's messages are handled one at a time and in arrival order, whichever
worker gets the job: a job first takes the conversation's lock in Redis, then
answers every waiting message oldest first. A burst of messages from one tenant
makes one queued job, not one per message (the "queued" mark below).
"""

import logging
import os
import socket
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import LockError, RedisError
from rq import Queue, SimpleWorker

from service import messaging, metrics

log = logging.getLogger(__name__)

QUEUE_NAME = "assistant"
# A job that overruns this is stopped by RQ and the sweep tries its conversation again.
JOB_TIMEOUT_SECONDS = 300
# Failed jobs are kept a day for a person to look at with `rq info`; results are not needed at all.
FAILURE_TTL_SECONDS = 86_400

# Set in each worker process by `serve_jobs`: the jobs below run with it.
_runtime = None


class ConversationBusy(Exception):
    """Another worker kept this conversation longer than we could wait; the sweep retries it."""


class RedisWorkQueue:
    """The web side of scaled mode: the same two calls as the in-process worker, as RQ jobs."""

    def __init__(self, redis_url: str, settings):
        # Short timeouts: with Redis down, the webhook still answers Twilio in about a second.
        self.redis = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=1, health_check_interval=30)
        self.queue = Queue(QUEUE_NAME, connection=self.redis)
        rules = settings.section("queue")
        self.lock_seconds = float(rules.get("conversation_lock_seconds", 60))
        self.lock_wait_seconds = float(rules.get("conversation_lock_wait_seconds", 30))

    def submit_conversation(self, conversation_id: int) -> None:
        try:
            # Only one job waits per conversation: the job that runs next reads everything waiting.
            if self.redis.set(_queued_key(conversation_id), 1, nx=True, ex=int(self.lock_seconds * 2)):
                self._enqueue(handle_conversation_job, conversation_id)
        except RedisError:
            _lost_enqueue("conversation", conversation_id)

    def submit_delivery(self, message_id: int) -> None:
        try:
            self._enqueue(deliver_job, message_id)
        except RedisError:
            _lost_enqueue("delivery", message_id)

    def queue_length(self) -> int | None:
        try:
            return self.queue.count
        except RedisError:
            return None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Nothing waits in-process here; the chat command and tests poll the database instead."""
        return True

    def shutdown(self) -> None:
        self.redis.close()

    @contextmanager
    def conversation_lock(self, conversation_id: int):
        lock = self.redis.lock(
            f"assistant:conversation-lock:{conversation_id}",
            timeout=self.lock_seconds,
            blocking_timeout=self.lock_wait_seconds,
            thread_local=False,
        )
        if not lock.acquire():
            raise ConversationBusy(conversation_id)
        try:
            yield lock
        finally:
            try:
                lock.release()
            except LockError:
                # It expired while we worked (a very slow turn); the next holder already has it.
                log.warning("conversation lock expired before release", extra={"conversation_id": conversation_id})

    def _enqueue(self, function, item_id: int) -> None:
        self.queue.enqueue_call(
            function,
            args=(item_id,),
            timeout=JOB_TIMEOUT_SECONDS,
            result_ttl=0,
            failure_ttl=FAILURE_TTL_SECONDS,
        )


def _queued_key(conversation_id: int) -> str:
    return f"assistant:conversation-queued:{conversation_id}"


def _lost_enqueue(kind: str, item_id: int) -> None:
    # The item is safe in the database; the recovery sweep enqueues it once Redis is back.
    metrics.ERRORS.inc()
    log.warning("redis unavailable, left for the recovery sweep", extra={"kind": kind, "item_id": item_id})


# The jobs, run by worker processes.


def handle_conversation_job(conversation_id: int) -> None:
    runtime = _runtime
    queue: RedisWorkQueue = runtime.worker
    with queue.conversation_lock(conversation_id) as lock:
        # Cleared while holding the lock and before reading: a message stored from now on
        # enqueues a fresh job, and one stored before is read below.
        queue.redis.delete(_queued_key(conversation_id))
        messaging.process_conversation(runtime, conversation_id, between_messages=lock.reacquire)


def deliver_job(message_id: int) -> None:
    messaging.deliver(_runtime, message_id)


# The worker process.


def serve_jobs(runtime, burst: bool = False) -> None:
    """Run jobs until stopped (or, with burst, until the queue is empty). One job at a time per process."""
    global _runtime
    _runtime = runtime
    queue: RedisWorkQueue = runtime.worker
    name = f"assistant-{socket.gethostname()}-{os.getpid()}"
    worker = SimpleWorker([queue.queue], connection=queue.redis, name=name)
    worker.work(burst=burst, logging_level=os.environ.get("LOG_LEVEL", "INFO"), with_scheduler=False)
