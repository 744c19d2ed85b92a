"""Why a tenant says a visit does not suit, or why they missed it: a category and their own words.

Nothing is ever asked. When a tenant explains of their own accord while
cancelling, moving or turning down a visit ("I'm at work that day", "sorry, I
forgot"), the reason is kept as a category for the insight pages, with their
words for officers. The phrases are data (locales/<code>/reason_words.yml), read
in every language at once like the need words. The words can be about health,
caring or fear: they are never written to logs.
"""

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

import yaml

from service.adjustments import fold_for_matching
from service.i18n import LOCALES_DIR
from service.languages import phrase_pattern
from service.visits import open_visits
from store.models import REASON_CATEGORIES, Visit, VisitReason

if TYPE_CHECKING:
    from service.dialogue import Turn

log = logging.getLogger(__name__)

# The dialogue actions by which a tenant turns a visit down or talks about one they missed.
EXPLAINING_ACTIONS = ("action_cannot_make_it", "action_cancel", "action_rebook", "action_deny")
OTHER = "other"
LABELS = {
    "at_work": "At work",
    "unwell": "Unwell",
    "caring": "Caring for someone",
    "forgot": "Forgot",
    "did_not_know": "Did not know about it",
    "afraid": "Afraid or uneasy",
    "cannot_reach_door": "Could not get to the door",
    "other": "Other",
}


def category_of(text: str) -> str | None:
    """The first category the text names, "other" for an explanation that fits none, or None."""
    folded = fold_for_matching(text)
    if not folded:
        return None
    patterns = _patterns()
    for category in REASON_CATEGORIES:
        if category != OTHER and _matches(patterns, category, folded):
            return category
    return OTHER if _matches(patterns, OTHER, folded) else None


def capture(turn: "Turn", action: str, pending: dict) -> VisitReason | None:
    """Keep the reason this message gives for not having or missing a visit, if it gives one."""
    if action not in EXPLAINING_ACTIONS or turn.message is None:
        return None
    category = category_of(turn.text)
    if category is None:
        return None

    visit = _visit_talked_about(turn, pending)
    reason = VisitReason(
        tenant_id=turn.tenant.id,
        visit_id=visit.id if visit else None,
        message_id=turn.message.id,
        category=category,
        words=turn.text,
        visit_status=visit.status if visit else None,
        at=turn.now,
    )
    turn.session.add(reason)
    # The category only: the tenant's words never reach a log.
    log.info("visit reason recorded", extra={"tenant_id": turn.tenant.id, "category": category})
    return reason


def _visit_talked_about(turn: "Turn", pending: dict) -> Visit | None:
    """The visit of the open question, else the one last written about, else the only open one; never a guess."""
    for visit_id in (pending.get("visit_id"), turn.state.get("visit_id")):
        visit = turn.session.get(Visit, visit_id) if visit_id else None
        if visit is not None and visit.tenant_id == turn.tenant.id:
            return visit
    upcoming = open_visits(turn.session, turn.tenant.id, turn.now)
    return upcoming[0] if len(upcoming) == 1 else None


def _matches(patterns: dict, category: str, folded: str) -> bool:
    pattern = patterns.get(category)
    return bool(pattern) and bool(pattern.search(folded))


@lru_cache(maxsize=1)
def _patterns() -> dict:
    """One pattern per category from every language's reason_words.yml; a language may lack the file."""
    phrases: dict[str, set[str]] = {category: set() for category in REASON_CATEGORIES}
    for path in sorted(LOCALES_DIR.glob("*/reason_words.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for category in phrases:
            folded = (fold_for_matching(str(phrase)) for phrase in data.get(category) or [])
            phrases[category].update(phrase for phrase in folded if phrase)
    return {category: phrase_pattern(found) for category, found in phrases.items() if found}
