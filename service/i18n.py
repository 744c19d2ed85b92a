"""Tenant-facing text in the tenant's own language, with no web request needed.

Every render names its locale explicitly, so a reminder job rendering for three
tenants at once can never leak one tenant's language into another's message.
Catalogs are read straight from the .po files (compiled in memory once), so a
translation edit needs no separate build step to take effect.
"""

import io
import logging
import threading
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from service.texts import PLURAL_TEXTS, TEXTS

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LOCALE = "en"
LONDON = ZoneInfo("Europe/London")
_lock = threading.Lock()


def available_locales() -> list[str]:
    found = {p.parent.parent.name for p in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po")}
    return sorted(found | {DEFAULT_LOCALE})


def normalise_locale(code: str | None) -> str:
    """Map a language code from any system ("pt-BR", "en_UK", "EN", "") to a catalog we have."""
    available = available_locales()
    text = (code or "").strip().replace("-", "_")
    if not text or text.lower() in ("null", "none"):
        return DEFAULT_LOCALE
    if text.lower() == "en_uk":
        text = "en_GB"
    try:
        locale = Locale.parse(text)
    except (ValueError, UnknownLocaleError):
        log.warning("unknown language code, using English", extra={"language_code": text[:20]})
        return DEFAULT_LOCALE

    candidates = [str(locale), f"{locale.language}_{locale.script}" if locale.script else None, locale.language]
    for candidate in candidates:
        if candidate and candidate in available:
            return candidate
    log.info("no catalog for language, using English", extra={"language_code": str(locale)})
    return DEFAULT_LOCALE


@lru_cache(maxsize=64)
def translations_for(locale: str) -> NullTranslations:
    po_path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return NullTranslations()
    with _lock, po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def render(key: str, locale: str, **values) -> str:
    """The text for `key` in `locale`, with its %(name)s placeholders filled."""
    translations = translations_for(locale)
    if key in PLURAL_TEXTS:
        singular, plural = PLURAL_TEXTS[key]
        text = translations.ngettext(singular, plural, values["num"])
    else:
        text = translations.gettext(TEXTS[key])
    return text % values if values else text


def format_day(moment: datetime, locale: str) -> str:
    """ "Tue 14 May" in the tenant's language, in London time."""
    return format_date(moment.astimezone(LONDON), "EEE d MMM", locale=locale)


def format_clock(moment: datetime, locale: str) -> str:
    return format_time(moment.astimezone(LONDON), "HH:mm", locale=locale)


def format_slot(start: datetime, end: datetime, locale: str) -> str:
    """ "Tue 14 May, 10:00-11:00": short enough for one SMS segment alongside a sentence."""
    return render(
        "slot_window",
        locale,
        day=format_day(start, locale),
        start=format_clock(start, locale),
        end=format_clock(end, locale),
    )
