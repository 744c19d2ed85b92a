"""The tenant's answer to the one optional "how did your visit go?" question, kept once.

The question goes out when an operative reports a visit finished (see
service/on_the_way.py). The answer, a number from 1 to 5 or words, is kept once
and thanked briefly; anything that is not an answer falls through to the normal
handling.
"""

import logging
import unicodedata
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import regex

from store.models import VisitFeedback

if TYPE_CHECKING:
    from service.dialogue import Turn

log = logging.getLogger(__name__)

QUESTION = "how_it_went"
# How long an answer is read as one; after that a bare number is just a number again.
ANSWER_WINDOW = timedelta(days=3)
# Arabic-Indic and Persian digits, as their keyboards type them, read as 0-9.
DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# "4", "5/5", "4 out of 5", "5 great job": a score first, with any words after it.
SCORE = regex.compile(
    r"^\s*(?P<score>[1-5])(?:\s*(?:/|out of)\s*5)?(?!\d)\s*[.!),:-]*\s*(?P<words>.*)$", regex.IGNORECASE | regex.DOTALL
)
# What Rasa makes of words about a visit ("it was great", "not good, left a mess"); other actions fall through.
FEEDBACK_ACTIONS = ("action_thanks", "action_affirm", "action_deny", "action_fallback", "action_out_of_scope")


def handle(turn: "Turn", pending: dict, action: str) -> bool:
    """Keep the answer to "how did it go?"; False leaves the message to the rest of the dialogue."""
    if pending.get("kind") != QUESTION:
        return False
    feedback = turn.session.get(VisitFeedback, pending.get("feedback_id") or 0)
    asked = datetime.fromisoformat(pending["asked_at"]) if pending.get("asked_at") else None
    if feedback is None or feedback.answered_at is not None or asked is None or turn.now - asked > ANSWER_WINDOW:
        turn.set_pending(None)
        return False

    score, words = _read(turn.text)
    if score is None and (action not in FEEDBACK_ACTIONS or not words):
        return False

    feedback.score, feedback.words = score, words or None
    feedback.answered_at, feedback.answer_message_id = turn.now, turn.message.id if turn.message else None
    turn.set_pending(None)
    turn.say("how_it_went_thanks")
    # The score only: the tenant's words never reach a log.
    log.info("visit feedback recorded", extra={"tenant_id": turn.tenant.id, "score": score})
    return True


def _read(text: str) -> tuple[int | None, str]:
    # "٥" or "۵" is a 5 too: Arabic and Persian keyboards type their own digits.
    found = SCORE.match(unicodedata.normalize("NFKC", text or "").translate(DIGITS))
    if found:
        return int(found.group("score")), found.group("words").strip()
    return None, (text or "").strip()
