"""Custom actions: each hands the turn to the web app, which owns visits and replies.

The app keeps the conversation's pending question and every tenant-facing
sentence (in the tenant's language), so these actions stay thin: they say
which action Rasa chose and for which stored message, and the app does the rest
in one database transaction. Nothing personal is logged here.
"""
import logging
import os
from typing import Any

import requests
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

log = logging.getLogger(__name__)

ACTION_NAMES = (
    "action_affirm",
    "action_deny",
    "action_cancel",
    "action_rebook",
    "action_cannot_make_it",
    "action_answer_question",
    "action_thanks",
    "action_greet",
    "action_request_human",
    "action_stop",
    "action_out_of_scope",
    "action_fallback",
)


class HandToApp(Action):
    """Posts the chosen action, the intent and the stored message id to the app."""

    action_name = ""

    def name(self) -> str:
        return self.action_name

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        latest = tracker.latest_message or {}
        metadata = latest.get("metadata") or {}
        ranking = latest.get("intent_ranking") or []
        body = {
            "conversation": tracker.sender_id,
            "action": self.action_name,
            "intent": latest.get("intent") or {},
            "intent_ranking": ranking[:3],
            "text": latest.get("text"),
            "message_id": metadata.get("message_id"),
        }
        try:
            answer = requests.post(
                f"{os.environ.get('ASSISTANT_APP_URL', 'http://127.0.0.1:5000')}/internal/assistant/turn",
                json=body,
                headers={"Authorization": f"Bearer {os.environ['ASSISTANT_TOKEN']}"},
                timeout=10,
            )
            answer.raise_for_status()
        except (requests.RequestException, KeyError):
            # The app notices the unanswered message itself and tells the tenant a person will reply.
            log.warning("could not hand %s to the app for %s", self.action_name, tracker.sender_id)
        return []


# One registered class per action name; rasa_sdk finds Action subclasses by import.
for _name in ACTION_NAMES:
    _class_name = "".join(part.title() for part in _name.split("_"))
    globals()[_class_name] = type(_class_name, (HandToApp,), {"action_name": _name, "__doc__": f"Runs {_name}."})
