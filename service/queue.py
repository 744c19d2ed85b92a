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
import threading
import time
import uuid
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import LockError, RedisError
from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from service import messaging, metrics

log = logging.getLogger(__name__)

CONVERSATIONS = "assistant-conversations"
DELIVERIES = "assistant-deliveries"
# A job that overruns this is stopped by RQ and the sweep tries its conversation again.
JOB_TIMEOUT_SECONDS = 300
# Failed jobs are kept a day for a person to look at with `rq info`; results are not needed at all.
FAILURE_TTL_SECONDS = 86_400

# Set in each worker process by `serve_jobs`: the jobs below run with it.
_runtime = None


class ConversationBusy(Exception):
    """Another worker kept this conversation longer than we could wait; the sweep retries it."""


class RedisWorkQueue:
    """The web side of scaled mode: the same two calls as the in-process worker, as RQ jobs.

    Tenants' messages have a queue of their own, which workers always take from
    first: a reply to a reminder never waits behind a morning's reminders.
    """

    def __init__(self, redis_url: str, settings):
        self.redis_url = redis_url
        # Short timeouts: with Redis down or hung, the webhook still answers Twilio within seconds.
        self.redis = Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1, health_check_interval=30)
        self.conversations = Queue(CONVERSATIONS, connection=self.redis)
        self.deliveries = Queue(DELIVERIES, connection=self.redis)
        rules = settings.section("queue")
        self.lock_seconds = float(rules.get("conversation_lock_seconds", 15))
        self.lock_wait_seconds = float(rules.get("conversation_lock_wait_seconds", 30))

    # A "queued" mark stops a second job for work already queued. It lapses, in case its job was
    # lost: after that the sweep queues the work again (at worst a job that finds nothing to do).
    # Short for conversations, so a lost job delays a tenant little; long for sends, so a morning's
    # backlog of reminders is not queued again and again while it drains.
    conversation_mark_seconds = 30
    delivery_mark_seconds = 3600

    def reachable(self) -> bool:
        """Redis answers now (for /health: while it is away, messages are stored and swept up later)."""
        try:
            return bool(self.redis.ping())
        except RedisError:
            return False

    def submit_conversation(self, conversation_id: int) -> None:
        """Queue a look at this conversation: the job that runs next reads everything waiting."""
        key = _queued_key("conversation", conversation_id)
        self._submit(key, self.conversation_mark_seconds, self.conversations, handle_conversation_job, conversation_id)

    def submit_delivery(self, message_id: int) -> None:
        key = _queued_key("delivery", message_id)
        self._submit(key, self.delivery_mark_seconds, self.deliveries, deliver_job, message_id)

    def _submit(self, key: str, mark_seconds: int, queue: Queue, function, item_id: int) -> None:
        job_id = f"{function.__name__}-{item_id}-{uuid.uuid4().hex[:12]}"
        try:
            # The mark names its job, so a mark whose job is gone (lost, failed) hides nothing.
            if not self.redis.set(key, job_id, nx=True, ex=mark_seconds):
                if self._still_waiting(self.redis.get(key)):
                    return
                self.redis.set(key, job_id, ex=mark_seconds)
            queue.enqueue_call(
                function,
                args=(item_id,),
                job_id=job_id,
                timeout=JOB_TIMEOUT_SECONDS,
                result_ttl=0,
                failure_ttl=FAILURE_TTL_SECONDS,
            )
        except RedisError:
            self.forget_mark(key)
            # The item is safe in the database; the recovery sweep queues it once Redis is back.
            metrics.ERRORS.inc()
            log.warning("redis unavailable, left for the recovery sweep", extra={"job": function.__name__})

    def _still_waiting(self, job_id: bytes | None) -> bool:
        # Only a job no worker has taken yet. A job clears its mark as soon as it starts its work,
        # so a mark naming a started job belongs to a worker that died in that moment (RQ would
        # call the job abandoned only minutes later). Queueing the item again is safe even if that
        # worker lives: a delivery is claimed before it is sent, a conversation is locked.
        if not job_id:
            return False
        try:
            job = Job.fetch(job_id.decode(), connection=self.redis)
        except NoSuchJobError:
            return False
        status = job.get_status()
        if status == JobStatus.QUEUED:
            # RQ moves a job it takes to an in-between list before marking it started: a worker
            # killed in that moment leaves it "queued" but out of the queue, where nobody looks.
            return Queue(job.origin, connection=self.redis).get_job_position(job.id) is not None
        return status in (JobStatus.DEFERRED, JobStatus.SCHEDULED)

    def queue_length(self) -> int | None:
        try:
            return self.conversations.count + self.deliveries.count
        except RedisError:
            return None

    def sweep_turn(self, seconds: float) -> bool:
        """True for one process per sweep period: several workers need not all sweep at once."""
        try:
            return bool(self.redis.set("assistant:sweep-turn", os.getpid(), nx=True, px=int(seconds * 1000)))
        except RedisError:
            return True  # Redis away: sweep anyway (the database claims keep it safe)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Nothing waits in-process here; the chat command and tests poll the database instead."""
        return True

    def shutdown(self) -> None:
        self.redis.close()

    @contextmanager
    def conversation_lock(self, conversation_id: int):
        """Hold the conversation for as long as this job runs: renewed by a thread, so a slow turn
        (a model loading, Twilio retrying) never lets a second worker in. A dead worker's hold lapses."""
        lock = self.redis.lock(
            f"assistant:conversation-lock:{conversation_id}",
            timeout=self.lock_seconds,
            blocking_timeout=self.lock_wait_seconds,
            thread_local=False,
        )
        if not lock.acquire():
            raise ConversationBusy(conversation_id)
        done = threading.Event()
        keeper = threading.Thread(target=_keep, args=(lock, done, self.lock_seconds / 3), daemon=True)
        keeper.start()
        try:
            yield lock
        finally:
            done.set()
            keeper.join()
            try:
                lock.release()
            except LockError:
                log.warning("conversation lock lapsed before release", extra={"conversation_id": conversation_id})

    def forget_mark(self, key: str) -> None:
        try:
            self.redis.delete(key)
        except RedisError:
            pass  # it lapses by itself


def _queued_key(kind: str, item_id: int) -> str:
    return f"assistant:{kind}-queued:{item_id}"


def _keep(lock, done: threading.Event, every: float) -> None:
    """Renew the lock until the job ends; a failed renewal (a Redis blip) is tried again next time."""
    while not done.wait(every):
        try:
            lock.reacquire()
        except LockError:
            # Lapsed already (Redis was away for longer than the lock): nothing left to renew.
            log.warning("conversation lock lapsed while its job ran")
            return
        except RedisError:
            log.warning("could not renew a conversation lock; trying again")


# The jobs, run by worker processes.


def handle_conversation_job(conversation_id: int) -> None:
    runtime = _runtime
    queue: RedisWorkQueue = runtime.worker
    if not runtime.rasa.known_ready:
        # Just after a start the model is loading: wait here, before taking the conversation's lock,
        # so the lock never lapses while we wait (a tenant then gets an answer, not "we have it").
        runtime.rasa.wait_until_ready(runtime.rasa_wait_seconds)
    key = _queued_key("conversation", conversation_id)
    try:
        with queue.conversation_lock(conversation_id):
            # Cleared while holding the lock and before reading: a message stored from now on
            # enqueues a fresh job, and one stored before is read below.
            queue.forget_mark(key)
            messaging.process_conversation(runtime, conversation_id)
    except ConversationBusy:
        # Not ours to hold now; a later message, or the sweep, queues it again.
        queue.forget_mark(key)
        raise


def deliver_job(message_id: int) -> None:
    _runtime.worker.forget_mark(_queued_key("delivery", message_id))
    messaging.deliver(_runtime, message_id)


# The worker process.


def serve_jobs(runtime, burst: bool = False) -> None:
    """Run jobs until stopped (or, with burst, until the queue is empty). One job at a time per process."""
    global _runtime
    _runtime = runtime
    queue: RedisWorkQueue = runtime.worker
    name = f"assistant-{socket.gethostname()}-{os.getpid()}"
    # Its own connection, without the web side's short timeout: RQ waits on Redis for jobs.
    connection = _connect_patiently(queue.redis_url)
    queues = [Queue(CONVERSATIONS, connection=connection), Queue(DELIVERIES, connection=connection)]
    worker = SimpleWorker(queues, connection=connection, name=name)
    worker.work(burst=burst, logging_level=os.environ.get("LOG_LEVEL", "INFO"), with_scheduler=False)


def _connect_patiently(redis_url: str, seconds: float = 120) -> Redis:
    """Redis may start after us (a reboot, a restart): wait for it rather than exit."""
    deadline = time.monotonic() + seconds
    delay = 0.5
    while True:
        connection = Redis.from_url(redis_url, socket_connect_timeout=2, health_check_interval=30)
        try:
            connection.ping()
            return connection
        except RedisError:
            connection.close()
            if time.monotonic() > deadline:
                raise
            log.warning("waiting for redis before taking jobs")
            time.sleep(delay)
            delay = min(delay * 2, 5)
