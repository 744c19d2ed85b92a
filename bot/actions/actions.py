"""Actions that hand each classified message to the app.

Rasa only classifies. The app owns the visit records, the wording in every
tenant language and the sending of replies, so each action posts the turn to
the app and returns no events or messages of its own.
"""

import abc
import asyncio
import logging
import os
from typing import Any

import requests
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)

DEFAULT_APP_URL = "http://127.0.0.1:5000"
TURN_PATH = "/internal/assistant/turn"
REQUEST_TIMEOUT_SECONDS = 10
RANKING_LENGTH = 3


def build_turn(tracker: Tracker, action_name: str) -> dict[str, Any]:
    """Build the JSON body the app expects for one tenant message."""
    message = tracker.latest_message or {}
    intent = message.get("intent") or {}
    ranking = message.get("intent_ranking") or []
    metadata = message.get("metadata") or {}

    return {
        "conversation": tracker.sender_id,
        "action": action_name,
        "intent": {
            "name": intent.get("name"),
            "confidence": intent.get("confidence"),
        },
        "intent_ranking": [
            {"name": item.get("name"), "confidence": item.get("confidence")} for item in ranking[:RANKING_LENGTH]
        ],
        "text": message.get("text"),
        "message_id": metadata.get("message_id"),
    }


def post_turn(turn: dict[str, Any], token: str) -> None:
    """POST a turn to the app; raise on a network error or non-2xx status."""
    app_url = os.environ.get("ASSISTANT_APP_URL", DEFAULT_APP_URL).rstrip("/")
    response = requests.post(
        app_url + TURN_PATH,
        json=turn,
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    response.raise_for_status()


class AppTurnAction(Action, abc.ABC):
    """Base for every action: forwards the turn to the app and adds no events.

    A failed hand-off is logged and swallowed. The app notices messages that
    got no turn and follows them up itself, so raising here would only make
    Rasa log a second error. The log carries the action name and conversation
    id, never the message text or a phone number.
    """

    @abc.abstractmethod
    def name(self) -> str:
        """The action name used in the domain and rules."""

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """Send the turn to the app and return no events."""
        token = os.environ.get("ASSISTANT_TOKEN")
        if not token:
            logger.error(
                "ASSISTANT_TOKEN is not set, turn not handed to app: action=%s conversation=%s",
                self.name(),
                tracker.sender_id,
            )
            return []

        turn = build_turn(tracker, self.name())
        try:
            # requests blocks; a thread keeps other conversations moving while
            # the app answers.
            await asyncio.to_thread(post_turn, turn, token)
        except requests.RequestException as error:
            logger.error(
                "Failed to hand turn to app: action=%s conversation=%s error=%s",
                self.name(),
                tracker.sender_id,
                _describe(error),
            )
        return []


def _describe(error: Exception) -> str:
    # Only the exception type and HTTP status: a message could echo the URL
    # or the request body back into the log.
    response: requests.Response | None = getattr(error, "response", None)
    if response is not None:
        return f"{type(error).__name__} status={response.status_code}"
    return type(error).__name__


class ActionAffirm(AppTurnAction):
    """Tenant said yes, usually to confirm the visit they were sent."""

    def name(self) -> str:
        return "action_affirm"


class ActionDeny(AppTurnAction):
    """Tenant said no to what they were last asked."""

    def name(self) -> str:
        return "action_deny"


class ActionCancel(AppTurnAction):
    """Tenant asked to cancel a visit."""

    def name(self) -> str:
        return "action_cancel"


class ActionRebook(AppTurnAction):
    """Tenant asked to move a visit, often naming a day or time."""

    def name(self) -> str:
        return "action_rebook"


class ActionCannotMakeIt(AppTurnAction):
    """Tenant cannot make the slot but did not ask for another; the app offers one."""

    def name(self) -> str:
        return "action_cannot_make_it"


class ActionNobodyCame(AppTurnAction):
    """Tenant says nobody came to the visit; the app checks the slot and apologises if we missed it."""

    def name(self) -> str:
        return "action_nobody_came"


class ActionAnswerQuestion(AppTurnAction):
    """Tenant asked when, who, what or how long; the intent says which."""

    def name(self) -> str:
        return "action_answer_question"


class ActionThanks(AppTurnAction):
    """Tenant said thanks or goodbye."""

    def name(self) -> str:
        return "action_thanks"


class ActionGreet(AppTurnAction):
    """Tenant said hello."""

    def name(self) -> str:
        return "action_greet"


class ActionRequestHuman(AppTurnAction):
    """Tenant wants a person; the app hands the conversation to an officer."""

    def name(self) -> str:
        return "action_request_human"


class ActionStop(AppTurnAction):
    """Tenant asked for no more messages; the app records the opt-out."""

    def name(self) -> str:
        return "action_stop"


class ActionOutOfScope(AppTurnAction):
    """Tenant asked for something this assistant does not handle."""

    def name(self) -> str:
        return "action_out_of_scope"


class ActionFallback(AppTurnAction):
    """No intent was confident enough; the app asks the tenant to choose."""

    def name(self) -> str:
        return "action_fallback"
