"""Sending through the official twilio client, to Twilio or to the local simulator."""

import logging
import random
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)
# The client logs every request's URL and headers at INFO: noise, and phone numbers, in our logs.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


class SendError(Exception):
    """Twilio did not take the message. `permanent` means trying again will not help."""

    def __init__(self, message: str, code: str | None = None, permanent: bool = False, maybe_sent: bool = False):
        super().__init__(message)
        self.code = code
        self.permanent = permanent
        # True when the request may have reached Twilio (timeout, 5xx): never resend blindly.
        self.maybe_sent = maybe_sent


@dataclass
class SentMessage:
    sid: str
    status: str


class SimulatorHttpClient(TwilioHttpClient):
    """The stock HTTP client, with every twilio.com address pointed at the simulator."""

    def __init__(self, simulator_url: str, **kwargs):
        super().__init__(**kwargs)
        parts = urlsplit(simulator_url)
        self._scheme, self._netloc = parts.scheme, parts.netloc

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        if parts.netloc.endswith("twilio.com"):
            url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)


class TwilioGateway:
    RATE_LIMIT_RETRIES = 4

    def __init__(self, settings, timeout: float = 10.0):
        self.settings = settings
        if settings.use_simulator:
            http_client = SimulatorHttpClient(settings.simulator_url, timeout=timeout)
        else:
            http_client = TwilioHttpClient(timeout=timeout)
        self.client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)

    def send(
        self,
        to: str,
        from_: str,
        body: str,
        status_callback: str | None = None,
        content_sid: str | None = None,
        content_variables: str | None = None,
    ) -> SentMessage:
        """Hand one message to Twilio, retrying only answers that prove it was not taken.

        With `content_sid` it is an approved WhatsApp template and `body` is not sent.
        """
        if content_sid:
            fields = {"content_sid": content_sid, "content_variables": content_variables}
        else:
            fields = {"body": body}
        for attempt in range(self.RATE_LIMIT_RETRIES + 1):
            try:
                created = self.client.messages.create(
                    to=to, from_=from_, status_callback=status_callback or None, **fields
                )
                return SentMessage(sid=created.sid, status=created.status or "queued")
            except TwilioRestException as error:
                if error.status == 429 and attempt < self.RATE_LIMIT_RETRIES:
                    # A 429 means Twilio refused it, so another try cannot double-send.
                    time.sleep(_backoff(attempt))
                    continue
                raise SendError(
                    "twilio refused the message",
                    code=str(error.code or error.status),
                    permanent=400 <= error.status < 500 and error.status != 429,
                    maybe_sent=error.status >= 500,
                ) from error
            except requests.RequestException as error:
                raise SendError("no answer from twilio", maybe_sent=True) from error
        raise SendError("rate limited", code="20429")


def _backoff(attempt: int) -> float:
    # Exponential with full jitter, capped so a batch never stalls for long.
    return random.uniform(0, min(4.0, 0.25 * 2**attempt))
