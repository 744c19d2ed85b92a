"""Who answers a conversation: the assistant, or a person.

assistant -> queued (waiting for an officer) -> officer -> assistant again.
While a person owns it the assistant stays silent, apart from one holding
message per handoff, and every tenant message waits in the console. Handing
back keeps the conversation's pending question, so the assistant picks up
where it left off.
"""

from datetime import datetime

from service import metrics
from store.models import Conversation

ASSISTANT, QUEUED, OFFICER = "assistant", "queued", "officer"


def request_handoff(conversation: Conversation, reason: str, now: datetime, urgent: bool = False) -> None:
    """Put the conversation in the officers' queue; an officer already on it keeps it."""
    if conversation.owner == OFFICER:
        conversation.handoff_urgent = conversation.handoff_urgent or urgent
        return
    if conversation.owner != QUEUED:
        conversation.handoff_at = now
        conversation.holding_sent = False
        metrics.HANDOFFS.labels(reason).inc()
    conversation.owner = QUEUED
    conversation.handoff_reason = conversation.handoff_reason or reason
    conversation.handoff_urgent = conversation.handoff_urgent or urgent


def take_over(conversation: Conversation, officer_id: int, now: datetime) -> None:
    if conversation.owner == ASSISTANT:
        conversation.handoff_at, conversation.handoff_reason = now, "officer_took_over"
        conversation.holding_sent = False
    conversation.owner = OFFICER
    conversation.assigned_officer_id = officer_id


def hand_back(conversation: Conversation) -> None:
    conversation.owner = ASSISTANT
    conversation.assigned_officer_id = None
    conversation.handoff_reason = None
    conversation.handoff_at = None
    conversation.handoff_urgent = False
    conversation.holding_sent = False
    # Misunderstandings before the handoff should not bring the menu straight back.
    conversation.state = {**(conversation.state or {}), "misunderstood": 0}


def with_a_person(conversation: Conversation) -> bool:
    return conversation.owner != ASSISTANT
