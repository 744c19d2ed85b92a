"""Which language to write in: the tenant's stored choice, what they ask for, and what they write.

The stored preference always wins. A tenant switches by asking ("in Polish
please", "po polsku", "Cymraeg"), which is remembered. Detection only ever
proposes a switch, and only on a message long enough to tell: "ok", "Tak",
"👍" or "yes" never change anything.
"""

import logging
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import regex
from babel import Locale
from langdetect import DetectorFactory, LangDetectException, detect_langs

log = logging.getLogger(__name__)

MIN_WORDS_TO_DETECT = 4
MIN_LETTERS_TO_DETECT = 20
DETECTION_CERTAINTY = 0.9
# Scripts that name the language outright, checked before any statistics.
SCRIPT_LANGUAGES = {"Ethiopic": "ti", "Gurmukhi": "pa", "Gujarati": "gu", "Bengali": "bn", "Han": "zh_Hans"}
# langdetect's codes to ours.
DETECTED_CODES = {"zh-cn": "zh_Hans", "zh-tw": "zh_Hans"}

DetectorFactory.seed = 0  # langdetect is random by default; the same text must get the same answer


@dataclass(frozen=True)
class Language:
    code: str  # the catalog's locale code, e.g. "pa_Arab"
    nlu: str  # the training data folder, e.g. "pa"
    name_en: str
    autonym: str
    requests: tuple[str, ...]

    @property
    def dateparser_code(self) -> str:
        return self.code.replace("_", "-") if self.code != "zh_Hans" else "zh"


def configured_languages(settings) -> tuple[Language, ...]:
    return _languages(
        tuple(
            (item["code"], item.get("nlu"), tuple(item.get("requests", ())))
            for item in settings.raw.get("languages") or [{"code": "en"}]
        )
    )


@lru_cache(maxsize=4)
def _languages(entries: tuple) -> tuple[Language, ...]:
    languages = []
    for code, nlu, requests in entries:
        locale = Locale.parse(code)
        languages.append(
            Language(
                code=code,
                nlu=nlu or locale.language,
                name_en=Locale.parse(locale.language).get_display_name("en"),
                autonym=Locale.parse(locale.language).get_display_name(code) or code,
                requests=requests,
            )
        )
    return tuple(languages)


def language_by_code(settings, code: str) -> Language | None:
    return next((language for language in configured_languages(settings) if language.code == code), None)


def requested_language(text: str, settings) -> str | None:
    """The language a tenant explicitly asks for, or None.

    A message that is only a language's name ("Cymraeg", "polski") counts, as do
    "in Polish", "Polish please", "speak Polish" and each language's own phrases
    from config.yml ("po polsku").
    """
    said = fold(text)
    if not said or len(said) > 60:
        return None
    for language in configured_languages(settings):
        names = {fold(language.name_en), fold(language.autonym)}
        phrases = {fold(phrase) for phrase in language.requests}
        english = fold(language.name_en)
        framed = {f"in {english}", f"{english} please", f"speak {english}", f"{english} pls", f"in {english} please"}
        if said in names or said in framed or any(_contains_phrase(said, phrase) for phrase in phrases | framed):
            return language.code
    return None


def detect_language(text: str, settings) -> str | None:
    """The language a longer message is written in, when that is clear; None otherwise."""
    words = text.split()
    letters = sum(1 for ch in text if ch.isalpha())
    if len(words) < MIN_WORDS_TO_DETECT or letters < MIN_LETTERS_TO_DETECT:
        return None
    supported = {language.code for language in configured_languages(settings)}

    for script, code in SCRIPT_LANGUAGES.items():
        if regex.search(rf"\p{{{script}}}", text) and code in supported:
            return code
    try:
        guesses = detect_langs(text)
    except LangDetectException:
        return None
    best = guesses[0]
    code = DETECTED_CODES.get(best.lang, best.lang)
    if best.prob >= DETECTION_CERTAINTY and code in supported:
        return code
    return None


def fold(text: str) -> str:
    """Lower case, marks off, punctuation and spaces tidied: "Po Polsku!" and "po polsku" are one request.

    Marks are dropped on both sides of every comparison, so scripts whose vowel
    signs are combining marks still compare like with like.
    """
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(regex.sub(r"[^\w\s]+", " ", stripped).split())


def phrase_pattern(phrases) -> regex.Pattern:
    """One pattern for folded phrases: whole words where the script uses spaces, substrings for Chinese."""
    if not phrases:
        return regex.compile(r"(?!)")
    pieces = []
    for phrase in sorted(phrases, key=len, reverse=True):
        body = regex.escape(phrase)
        if regex.search(r"\p{Han}", phrase):
            pieces.append(body)
        else:
            pieces.append(rf"(?<!\w){body}(?!\w)")
    return regex.compile("|".join(pieces))


def _contains_phrase(said: str, phrase: str) -> bool:
    return bool(phrase) and regex.search(rf"(?<!\w){regex.escape(phrase)}(?!\w)", said) is not None
