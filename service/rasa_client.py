"""The Rasa server, reached over its HTTP API."""

import logging
import time

import requests

log = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa did not answer; the message stays unanswered for our own fallback."""


class RasaClient:
    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        # Once Rasa has answered we stop asking before every message; a failure asks again.
        self.known_ready = False

    def is_ready(self) -> bool:
        """True once the server is up and its model is loaded."""
        try:
            answer = self.http.get(f"{self.base_url}/status", timeout=2)
            self.known_ready = answer.ok and bool(answer.json().get("model_file"))
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
                f"{self.base_url}/webhooks/rest/webhook",
                json={"sender": sender_id, "message": text, "metadata": metadata},
                timeout=self.timeout,
            )
            answer.raise_for_status()
            return answer.json()
        except (requests.RequestException, ValueError) as error:
            self.known_ready = False
            raise RasaUnavailable(str(error)) from error

    def parse(self, text: str) -> dict:
        """NLU only: the intent ranking for a text, with no conversation state touched."""
        try:
            answer = self.http.post(f"{self.base_url}/model/parse", json={"text": text}, timeout=self.timeout)
            answer.raise_for_status()
            return answer.json()
        except (requests.RequestException, ValueError) as error:
            raise RasaUnavailable(str(error)) from error
