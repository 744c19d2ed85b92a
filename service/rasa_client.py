"""The Rasa server (or servers, in scaled mode), reached over its HTTP API."""

import logging
import time
import zlib

import requests

log = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa did not answer; the message stays unanswered for our own fallback."""


class RasaClient:
    def __init__(self, base_url: str | list[str], timeout: float = 10.0):
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.base_urls = [url.rstrip("/") for url in urls]
        self.base_url = self.base_urls[0]
        self.timeout = timeout
        self.http = requests.Session()
        # Once Rasa has answered we stop asking before every message; a failure asks again.
        self.known_ready = False
        # Whether it ever answered: not ready after that is an outage, not a model still loading.
        self.was_ready = False

    def is_ready(self) -> bool:
        """True once every server is up and its model is loaded."""
        try:
            for url in self.base_urls:
                answer = self.http.get(f"{url}/status", timeout=2)
                if not (answer.ok and answer.json().get("model_file")):
                    self.known_ready = False
                    return False
            self.known_ready = self.was_ready = True
        except (requests.RequestException, ValueError):
            self.known_ready = False
        return self.known_ready

    def wait_until_ready(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.is_ready():
                return True
            time.sleep(0.5)
        return False

    def send(self, sender_id: str, text: str, metadata: dict) -> list[dict]:
        """One user turn through Rasa's dialogue; custom actions run before this returns."""
        try:
            answer = self.http.post(
                f"{self._server_for(sender_id)}/webhooks/rest/webhook",
                json={"sender": sender_id, "message": text, "metadata": metadata},
                timeout=self.timeout,
            )
            answer.raise_for_status()
            return answer.json()
        except (requests.RequestException, ValueError) as error:
            self.known_ready = False
            raise RasaUnavailable(str(error)) from error

    def _server_for(self, sender_id: str) -> str:
        """A conversation keeps to one server while there are several (its tracker stays warm there).

        Any server could take it: the tracker store is shared and Redis locks each conversation.
        """
        return self.base_urls[zlib.crc32(sender_id.encode()) % len(self.base_urls)]

    def parse(self, text: str) -> dict:
        """NLU only: the intent ranking for a text, with no conversation state touched."""
        try:
            answer = self.http.post(f"{self.base_url}/model/parse", json={"text": text}, timeout=self.timeout)
            answer.raise_for_status()
            return answer.json()
        except (requests.RequestException, ValueError) as error:
            raise RasaUnavailable(str(error)) from error
