"""Emergencies come first: a smell of gas, carbon monoxide, fire, flood, danger or distress.

Whatever else is going on (a question pending, an officer on the conversation,
a number we do not know), a message that names an emergency gets the fixed,
correct safety message at once, in the tenant's language, and an urgent alert
to officers. The phrases are data (locales/<code>/safety_words.yml), read in
every language at once, because a frightened tenant may not write in the
language we have on file.
"""

import logging
from functools import lru_cache

import yaml

from service.i18n import LOCALES_DIR
from service.languages import fold, phrase_pattern

log = logging.getLogger(__name__)

# Checked in this order: the first that matches decides the message.
CATEGORIES = ("gas", "carbon_monoxide", "fire", "danger", "distress", "flood")


def emergency_in(text: str) -> str | None:
    """The kind of emergency a message names, or None."""
    folded = fold(text)
    if not folded:
        return None
    for category in CATEGORIES:
        if _patterns()[category].search(folded):
            return category
    return None


def safety_message(category: str, locale: str) -> str:
    texts = _texts()
    return (texts.get(locale) or {}).get(category) or texts["en"][category]


@lru_cache(maxsize=1)
def _patterns() -> dict:
    phrases: dict[str, set[str]] = {category: set() for category in CATEGORIES}
    for path in sorted(LOCALES_DIR.glob("*/safety_words.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for category in CATEGORIES:
            phrases[category].update(fold(str(phrase)) for phrase in data.get(category) or [] if fold(str(phrase)))
    return {category: phrase_pattern(found) for category, found in phrases.items()}


@lru_cache(maxsize=1)
def _texts() -> dict[str, dict[str, str]]:
    return yaml.safe_load((LOCALES_DIR / "safety_texts.yml").read_text(encoding="utf-8"))
