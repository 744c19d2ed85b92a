"""Tenant-facing text in the tenant's own language, with no web request needed.

Every render names its locale explicitly, so a reminder job rendering for three
tenants at once can never leak one tenant's language into another's message.
Catalogs are read straight from the .po files (compiled in memory once), so a
translation edit needs no separate build step to take effect.
"""

import io
import logging
import re
import threading
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from service.texts import PLURAL_TEXTS, TEXTS

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LOCALE = "en"
LONDON = ZoneInfo("Europe/London")
_lock = threading.Lock()
RTL_LETTERS = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


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
    # Same language, another script or region ("zh_Hant" -> "zh_Hans"): still nearer than English.
    relatives = [code for code in available if code.split("_")[0] == locale.language]
    if relatives:
        log.info("no exact catalog for language, using a relative", extra={"language_code": str(locale)})
        return relatives[0]
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
    if not values:
        return text
    if is_rtl_locale(locale):
        values = {name: _isolate_left_to_right(value) for name, value in values.items()}
    return text % values


@lru_cache(maxsize=64)
def is_rtl_locale(locale: str) -> bool:
    return Locale.parse(locale).character_order == "right-to-left"


def _isolate_left_to_right(value):
    """Keep "10:00-11:00" or "1." in that order inside Arabic, Urdu or Farsi text.

    In right-to-left text the bidi algorithm turns digits after Arabic letters into
    Arabic numbers, and a hyphen between them then flips the range to 11:00-10:00.
    A left-to-right isolate (LRI ... PDI) around a value made of digits and
    punctuation keeps it whole; values with right-to-left words are left alone.
    """
    if isinstance(value, str) and any(ch.isdigit() for ch in value) and not RTL_LETTERS.search(value):
        return f"\u2066{value}\u2069"
    return value


def format_day(moment: datetime, locale: str) -> str:
    """The short day in the tenant's language and its own order, in London time.

    "Tue 14 May" in English, "5月14日周二" in Chinese. Plain "en" in CLDR is
    American ("Tue, May 14"); our tenants read British English.
    """
    date_locale = "en_GB" if locale == "en" else locale
    return format_skeleton("MMMEd", moment.astimezone(LONDON), locale=date_locale)


def format_clock(moment: datetime, locale: str) -> str:
    return format_time(moment.astimezone(LONDON), "HH:mm", locale=locale)


def format_slot(start: datetime, end: datetime, locale: str) -> str:
    """ "Tue 14 May, 10:00-11:00": short enough for one SMS segment alongside a sentence."""
    hours = f"{format_clock(start, locale)}-{format_clock(end, locale)}"
    return render("slot_window", locale, day=format_day(start, locale), time=hours)
