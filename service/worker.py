"""Background work for the embedded default: threads in the web process.

Each conversation's messages are handled one at a time and in arrival order:
a conversation is never on two threads at once, and a message that arrives
while its conversation is busy is picked up by the same run before it ends.
The database is the queue, so nothing is lost when the process stops: start-up
submits every conversation that still has unanswered messages.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from service import metrics

log = logging.getLogger(__name__)


class InProcessWorker:
    def __init__(self, handle_conversation: Callable[[int], None], deliver: Callable[[int], None], threads: int = 4):
        self._handle_conversation = handle_conversation
        self._deliver = deliver
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="assistant-worker")
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._again: set[int] = set()
        self._idle = threading.Condition(self._lock)

    def submit_conversation(self, conversation_id: int) -> None:
        with self._lock:
            if conversation_id in self._running:
                # The thread on it now will go round once more before it lets go.
                self._again.add(conversation_id)
                return
            self._running.add(conversation_id)
        self._pool.submit(self._run_conversation, conversation_id)

    def submit_delivery(self, message_id: int) -> None:
        self._pool.submit(self._guarded, self._deliver, message_id)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests and the chat command: block until no conversation is being handled."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _run_conversation(self, conversation_id: int) -> None:
        while True:
            self._guarded(self._handle_conversation, conversation_id)
            with self._lock:
                if conversation_id in self._again:
                    self._again.discard(conversation_id)
                    continue
                self._running.discard(conversation_id)
                self._idle.notify_all()
                return

    @staticmethod
    def _guarded(function: Callable[[int], None], item_id: int) -> None:
        try:
            function(item_id)
        except Exception:
            # The item stays in its unfinished state in the database and is retried at start-up.
            metrics.ERRORS.inc()
            log.exception("background work failed", extra={"item_id": item_id})
