"""Work out when a tenant would like a visit from the words of a text message.

dateparser does the heavy lifting for dates, in every language it knows.
This module adds only the thin layer a booking needs on top of it:

* parts of the day ("tomorrow pm", "Thursday afternoon", "tonight"),
* clock times and ranges ("at 10", "5pm", "after 2", "before 10"),
* UK habits: day-first numeric dates, "at 2" meaning 2pm, text-speak ("2moro"),
* picking the date the tenant wants when a text names two
  ("can't do Monday, can you do Tuesday?"),
* flagging readings a person could take two ways (``ambiguous=True``).

Words dateparser has no notion of live in ``locales/<code>/date_words.yml``,
one file per language, so adding a language is a matter of data. Everything is read in
Europe/London wall-clock time.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import regex
import yaml
from dateparser.data import languages_info
from dateparser.date import DateData, DateDataParser
from dateparser.search import search_dates

from service.i18n import LOCALES_DIR

__all__ = [
    "day_words",
    "LONDON",
    "PART_WINDOWS",
    "DayWords",
    "RequestedTime",
    "parse_requested_time",
    "parse_time_of_day_words",
]

log = logging.getLogger(__name__)

LONDON = ZoneInfo("Europe/London")

# Longer than any real SMS (four concatenated parts); the rest is ignored so
# that a pasted essay cannot make parsing slow.
MAX_TEXT_CHARS = 1000

# Windows, in minutes after midnight on the London wall clock.
MORNING, AFTERNOON, EVENING = "morning", "afternoon", "evening"
PART_WINDOWS: Mapping[str, tuple[int, int]] = {
    MORNING: (8 * 60, 12 * 60),
    AFTERNOON: (12 * 60, 17 * 60),
    EVENING: (17 * 60, 20 * 60),
}
WORKING_DAY = (8 * 60, 17 * 60)
VISIT_MINUTES = 60

# A bare "at 7" could be 07:00 or 19:00 when both fall in these visiting hours.
PLAUSIBLE_STARTS = (7 * 60, 20 * 60)

# How far back from a date we look for "can't", "not", ...
NEGATION_REACH = 30

# The coming weekday counts as a possible meaning of "next <weekday>" this
# close to today; further out, "next" can only mean that one.
NEXT_WEEKDAY_DOUBT_DAYS = 6

MAX_WORDS_PER_DATE = 4

_DATEPARSER_SETTINGS: Mapping[str, object] = {
    "TIMEZONE": "Europe/London",
    "RETURN_AS_TIMEZONE_AWARE": False,
    "PREFER_DATES_FROM": "future",
    "DATE_ORDER": "DMY",
    "RETURN_TIME_AS_PERIOD": True,
    # "timestamp" would read a phone number as a date.
    "PARSERS": ["relative-time", "custom-formats", "absolute-time"],
}


@dataclass(frozen=True)
class RequestedTime:
    """When a tenant asked for a visit.

    ``start``/``end`` bound the window asked for (aware, Europe/London);
    ``precision`` is "day" (a working day, or Monday-Friday for a week),
    "part_of_day" (morning, "after 2", ...) or "time" (an hour from a clock time);
    ``matched`` quotes the tenant's own words; ``ambiguous`` is True when a
    reasonable reader could take those words two ways. ``ruled_out`` is True
    when every time named was negated ("I can't do Monday"): the window is
    then the one the tenant does not want.
    """

    start: datetime
    end: datetime
    precision: str  # "day" | "part_of_day" | "time"
    matched: str
    ambiguous: bool
    ruled_out: bool = False


# ---------------------------------------------------------------------------
# Words dateparser does not handle, per language
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DayWords:
    """Words one language uses around dates that dateparser leaves to us.

    Every phrase is lower case; spaces in a phrase match any run of spaces.
    """

    # "morning" -> MORNING; also read as am/pm right after a number ("7 in the evening").
    parts: Mapping[str, str] = field(default_factory=dict)
    # Parts of the day that also mean today ("tonight").
    parts_today: Mapping[str, str] = field(default_factory=dict)
    # Parts that are everyday words too ("I am"), so they count only next to a date or number.
    parts_anchored: Mapping[str, str] = field(default_factory=dict)
    at: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    between: tuple[str, ...] = ()
    range_joins: tuple[str, ...] = ()
    # Words that make a bare number a clock time ("10 o'clock", "14h").
    hour_suffixes: tuple[str, ...] = ()
    # Words after a number that make it a count, not a time ("for 2 weeks", "3rd").
    units: tuple[str, ...] = ()
    next_words: tuple[str, ...] = ()
    negations: tuple[str, ...] = ()
    # Text-speak and typos -> words dateparser knows.
    aliases: Mapping[str, str] = field(default_factory=dict)
    # Whole phrases dateparser reads as dates that in a text are usually something else.
    false_friends: frozenset[str] = frozenset()


def _phrases(values) -> tuple[str, ...]:
    return tuple(str(value).lower() for value in values or ())


def _day_parts(table: Mapping[str, Sequence[str]] | None) -> dict[str, str]:
    """{"morning": [phrases]} from YAML -> {phrase: "morning"}."""
    return {phrase: part for part, phrases in (table or {}).items() for phrase in _phrases(phrases)}


def load_day_words(path: Path) -> DayWords:
    """One language's table from its locales/<code>/date_words.yml."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    listed = ("at", "after", "before", "between", "range_joins", "hour_suffixes", "units", "next_words", "negations")
    return DayWords(
        parts=_day_parts(data.get("parts")),
        parts_today=_day_parts(data.get("parts_today")),
        parts_anchored=_day_parts(data.get("parts_anchored")),
        **{name: _phrases(data.get(name)) for name in listed},
        aliases={
            spelling: str(word).lower()
            for word, spellings in (data.get("aliases") or {}).items()
            for spelling in _phrases(spellings)
        },
        false_friends=frozenset(_phrases(data.get("false_friends"))),
    )


@lru_cache(maxsize=1)
def day_words() -> Mapping[str, DayWords]:
    """Every language's table, keyed by dateparser's language code ("pa-Arab", "zh")."""
    tables = {}
    for path in sorted(LOCALES_DIR.glob("*/date_words.yml")):
        folder = path.parent.name
        code = "zh" if folder.startswith("zh") else folder.replace("_", "-")
        tables[code] = load_day_words(path)
    return tables


# ---------------------------------------------------------------------------
# Patterns built from the word tables
# ---------------------------------------------------------------------------

_CLAUSE_BREAK = regex.compile(r"[,;:!?\n]|\.(?=\s|$)")
_NUMERIC_DATE = regex.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})(?!\d)")
_ONLY_DIGITS = regex.compile(r"^[\d\s]+$")
_LEADING_PUNCTUATION = regex.compile(r"^[^\w]+")
_TRAILING_PUNCTUATION = regex.compile(r"[^\w]+$")
_LINE_BREAK_NEXT = regex.compile(r"[^\S\n]*\n")
# Scripts written without spaces between words, where word runs cannot be tried.
_HAN = regex.compile(r"\p{Han}")
_UNSPACED_SCRIPT = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]")


@dataclass(frozen=True)
class _Grammar:
    """Compiled patterns for one set of languages."""

    words: DayWords
    aliases: regex.Pattern
    between: regex.Pattern
    after: regex.Pattern
    before: regex.Pattern
    clock: regex.Pattern
    parts: regex.Pattern
    parts_today: regex.Pattern
    parts_anchored: regex.Pattern
    negation: regex.Pattern
    next_word: regex.Pattern


def _merge_words(languages: tuple[str, ...]) -> DayWords:
    """One table holding the words of every requested language."""
    tables = [day_words()[code] for code in languages if code in day_words()]

    def joined_maps(name: str) -> dict[str, str]:
        merged: dict[str, str] = {}
        for table in tables:
            merged.update(getattr(table, name))
        return merged

    def joined_tuples(name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(word for table in tables for word in getattr(table, name)))

    return DayWords(
        parts=joined_maps("parts"),
        parts_today=joined_maps("parts_today"),
        parts_anchored=joined_maps("parts_anchored"),
        at=joined_tuples("at"),
        after=joined_tuples("after"),
        before=joined_tuples("before"),
        between=joined_tuples("between"),
        range_joins=joined_tuples("range_joins"),
        hour_suffixes=joined_tuples("hour_suffixes"),
        units=joined_tuples("units"),
        next_words=joined_tuples("next_words"),
        negations=joined_tuples("negations"),
        aliases=joined_maps("aliases"),
        false_friends=frozenset(word for table in tables for word in table.false_friends),
    )


def _alternation(phrases: Sequence[str], after_number: bool = False) -> str:
    """Regex matching any of *phrases* as whole words, longest first.

    With *after_number* a phrase may touch the number before it ("5pm").
    """
    if not phrases:
        return "(?!)"
    pieces = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        body = r"\s+".join(regex.escape(part) for part in phrase.split())
        head = r"(?<![^\W\d])" if after_number else r"(?<!\w)"
        head = head if regex.match(r"\w", phrase) else ""
        tail = r"(?!\w)" if regex.search(r"\w$", phrase) else ""
        pieces.append(f"{head}{body}{tail}")
    return "(?:" + "|".join(pieces) + ")"


def _clock_pattern(words: DayWords, tag: str, in_range: bool = False) -> str:
    """Regex for one clock time such as 7, 7pm, 7:30, 19h30 or 7 in the evening.

    Groups are suffixed with *tag* so that a range can hold two clocks.
    Digits joined by / . : or - are a date, except for a dash inside a range ("10-12").
    """
    date_marks = r"/.:" if in_range else r"/.:\-"
    meridiem = _alternation([*words.parts, *words.parts_anchored], after_number=True)
    suffix = _alternation(words.hour_suffixes, after_number=True)
    units = _alternation(words.units, after_number=True)
    return (
        rf"(?<![\d{date_marks}])(?P<hour{tag}>\d{{1,2}})"
        rf"(?:\s*(?P<sep{tag}>[:.h])\s*(?P<minute{tag}>\d{{2}}))?"
        rf"(?:\s*(?P<suffix{tag}>{suffix}))?"
        rf"(?:\s*(?P<meridiem{tag}>{meridiem}))?"
        rf"(?![{date_marks}]?\d)(?!\s*{units})"
    )


def _lead(phrases: Sequence[str]) -> str:
    """Regex for the word that introduces a time ("at", "after"), kept as group "lead"."""
    return rf"(?P<lead>{_alternation(phrases)})\s*"


@lru_cache(maxsize=32)
def _grammar(languages: tuple[str, ...]) -> _Grammar:
    """Compile the patterns for *languages* once."""
    words = _merge_words(languages)
    clock = _clock_pattern(words, "")
    first, second = _clock_pattern(words, "1", in_range=True), _clock_pattern(words, "2", in_range=True)
    join = rf"\s*{_alternation(words.range_joins)}\s*"

    return _Grammar(
        words=words,
        aliases=regex.compile(_alternation(list(words.aliases))),
        between=regex.compile(_lead(words.between) + first + join + second),
        after=regex.compile(_lead(words.after) + clock),
        before=regex.compile(_lead(words.before) + clock),
        clock=regex.compile(f"(?:{_lead(words.at)})?" + clock),
        parts=regex.compile(_alternation(list(words.parts))),
        parts_today=regex.compile(_alternation(list(words.parts_today))),
        parts_anchored=regex.compile(_alternation(list(words.parts_anchored))),
        negation=regex.compile(_alternation(words.negations)),
        next_word=regex.compile(_alternation(words.next_words)),
    )


# ---------------------------------------------------------------------------
# The message as we work on it
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Text:
    """Lower-cased working copy of the message that remembers where each
    character came from, so that ``matched`` can quote the tenant's own words."""

    original: str
    chars: str
    origin: tuple[int, ...]

    def quote(self, start: int, end: int) -> str:
        """The tenant's words behind ``chars[start:end]``."""
        return self.original[self.origin[start] : self.origin[end - 1] + 1].strip()

    def blank(self, spans: Sequence[tuple[int, int]]) -> _Text:
        """Copy with *spans* replaced by spaces, so later steps skip words already used."""
        chars = list(self.chars)
        for start, end in spans:
            chars[start:end] = " " * (end - start)
        return _Text(self.original, "".join(chars), self.origin)


def _normalise(text: str, grammar: _Grammar) -> _Text:
    """Lower-case, tame control characters and quotes, and expand text-speak."""
    original = text[:MAX_TEXT_CHARS]
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(original):
        if unicodedata.category(char).startswith("C"):
            # A line break still ends a clause; other control characters are noise.
            char = "\n" if char in "\n\r\u2028\u2029" else " "
        elif char in "\u2018\u2019\u02bc`":
            char = "'"
        for lowered in char.lower():
            chars.append(lowered)
            origin.append(index)
    plain = _Text(original, "".join(chars), tuple(origin))
    return _expand_aliases(plain, grammar.aliases, grammar.words.aliases)


def _expand_aliases(text: _Text, pattern: regex.Pattern, aliases: Mapping[str, str]) -> _Text:
    """Swap text-speak for the word dateparser knows, keeping the map to the original."""
    chars: list[str] = []
    origin: list[int] = []
    position = 0
    for match in pattern.finditer(text.chars):
        chars.append(text.chars[position : match.start()])
        origin.extend(text.origin[position : match.start()])
        replacement = aliases[" ".join(match.group().split())]
        last = len(replacement) - 1
        chars.append(replacement)
        # First and last letters point at the ends of the alias so quoting spans it.
        origin.extend(
            text.origin[match.end() - 1] if offset == last else text.origin[match.start()]
            for offset in range(len(replacement))
        )
        position = match.end()
    chars.append(text.chars[position:])
    origin.extend(text.origin[position:])
    return _Text(text.original, "".join(chars), tuple(origin))


# ---------------------------------------------------------------------------
# Times of day: clocks, ranges and parts of the day
# ---------------------------------------------------------------------------

_Window = tuple[int, int]  # (start, end) in minutes after midnight, London wall clock

CLOCK, RANGE, PART = "clock", "range", "part"


@dataclass(frozen=True)
class _TimeMention:
    """A time of day found in the text, with every reasonable reading."""

    start: int
    end: int
    kind: str  # CLOCK | RANGE | PART
    readings: tuple[_Window, ...]  # preferred first; more than one means ambiguous
    means_today: bool = False  # "tonight"
    anchored: bool = False  # "am": only counts right beside a date

    @property
    def precision(self) -> str:
        return "time" if self.kind == CLOCK else "part_of_day"


def _hour_readings(hour: int, minute: int, part: str | None) -> tuple[int, ...]:
    """Minutes after midnight that "hour:minute" could mean, preferred first.

    *part* is the part of the day written after it ("pm", "in the evening").
    With none, 1-7 is taken as pm (nobody books a 3am gas check), and the
    other reading is kept only when it is a plausible visiting time too.
    """
    if minute > 59 or hour > 23:
        return ()
    if part is not None:
        if hour > 12:
            return (hour * 60 + minute,) if part != MORNING else ()
        if hour == 0:
            return ()
        offset = 0 if part == MORNING else 12
        return ((hour % 12 + offset) * 60 + minute,)
    if hour == 0 or hour >= 12:
        return (hour * 60 + minute,)

    morning, evening = hour * 60 + minute, (hour + 12) * 60 + minute
    preferred, other = (evening, morning) if hour <= 7 else (morning, evening)
    if PLAUSIBLE_STARTS[0] <= other < PLAUSIBLE_STARTS[1]:
        return preferred, other
    return (preferred,)


def _part_named(phrase: str, words: DayWords) -> str | None:
    key = " ".join(phrase.split())
    return words.parts.get(key) or words.parts_anchored.get(key) or words.parts_today.get(key)


def _clock_readings(match: regex.Match, words: DayWords, tag: str = "") -> tuple[int, ...]:
    """Readings of one clock inside a match."""
    meridiem = match.group(f"meridiem{tag}")
    return _hour_readings(
        int(match.group(f"hour{tag}")),
        int(match.group(f"minute{tag}") or 0),
        _part_named(meridiem, words) if meridiem else None,
    )


def _written_as_clock(match: regex.Match, text: _Text, vocabulary: _Vocabulary) -> bool:
    """A number with no "at" before it is a time only if written like one
    (10:30, 7.45, 5pm, 14h) or if it follows a weekday ("sat 10": the 10th is rarely a Saturday).

    "3.12" stays a date (3 December): with a dot, minutes must be past 12.
    """
    if match.group("lead") or match.group("meridiem") or match.group("suffix"):
        return True
    if match.group("sep") in (":", "h"):
        return True
    if match.group("sep") == "." and int(match.group("minute")) > 12:
        return True
    previous = regex.search(r"(\w+)\W*$", text.chars[max(0, match.start() - 30) : match.start()])
    return bool(previous) and int(match.group("hour")) <= 12 and vocabulary.is_weekday(previous.group(1))


def _after_window(start: int) -> _Window:
    """Window for "after 2": to the end of the working day, or of the evening if later."""
    if start <= WORKING_DAY[1] - VISIT_MINUTES:
        return start, WORKING_DAY[1]
    if start <= PART_WINDOWS[EVENING][1] - VISIT_MINUTES:
        return start, PART_WINDOWS[EVENING][1]
    return start, start + VISIT_MINUTES


def _before_window(limit: int) -> _Window:
    """Window for "before 10": from the start of the working day, or an hour earlier if that is later."""
    return min(WORKING_DAY[0], limit - VISIT_MINUTES), limit


def _find_ranges(text: _Text, grammar: _Grammar) -> list[_TimeMention]:
    """Ranges: "between 10 and 2", "after 2", "before 10"."""
    found = []
    for match in grammar.between.finditer(text.chars):
        starts = _clock_readings(match, grammar.words, "1")
        ends = _clock_readings(match, grammar.words, "2")
        windows = tuple((start, end) for start in starts for end in ends if start < end)
        if windows:
            found.append(_TimeMention(match.start(), match.end(), RANGE, windows))

    text = text.blank([(mention.start, mention.end) for mention in found])
    for pattern, shape in ((grammar.after, _after_window), (grammar.before, _before_window)):
        for match in pattern.finditer(text.chars):
            readings = tuple(shape(minutes) for minutes in _clock_readings(match, grammar.words))
            if readings:
                found.append(_TimeMention(match.start(), match.end(), RANGE, readings))
    return found


def _find_clocks(text: _Text, grammar: _Grammar, vocabulary: _Vocabulary) -> list[_TimeMention]:
    """Clock times: "at 10", "10am", "10:30", "7 in the evening", "sat 10"."""
    found = []
    for match in grammar.clock.finditer(text.chars):
        if not _written_as_clock(match, text, vocabulary) or _month_follows(match, text, vocabulary):
            continue
        readings = _clock_readings(match, grammar.words)
        if readings:
            windows = tuple((minutes, minutes + VISIT_MINUTES) for minutes in readings)
            found.append(_TimeMention(match.start(), match.end(), CLOCK, windows))
    return found


def _month_follows(match: regex.Match, text: _Text, vocabulary: _Vocabulary) -> bool:
    """True for "at 14 May": a bare number followed by a month name is a date, left to dateparser."""
    if match.group("meridiem") or match.group("sep") or match.group("suffix"):
        return False
    following = regex.match(r"\s*(\w+)", text.chars[match.end() :])
    return bool(following) and vocabulary.is_month(following.group(1))


def _find_parts(text: _Text, grammar: _Grammar) -> list[_TimeMention]:
    """Parts of the day: "tonight", "afternoon", and am/pm words standing on their own."""
    found: list[_TimeMention] = []
    kinds = (
        (grammar.parts_today, True, False),
        (grammar.parts, False, False),
        (grammar.parts_anchored, False, True),
    )
    for pattern, means_today, anchored in kinds:
        for match in pattern.finditer(text.chars):
            window = PART_WINDOWS[_part_named(match.group(), grammar.words)]
            found.append(_TimeMention(match.start(), match.end(), PART, (window,), means_today, anchored))
        text = text.blank([(mention.start, mention.end) for mention in found])
    return found


def _find_times_of_day(text: _Text, grammar: _Grammar, vocabulary: _Vocabulary) -> list[_TimeMention]:
    """Every time-of-day mention, each stretch of text used at most once."""
    found = _find_ranges(text, grammar)
    found += _find_clocks(text.blank([(m.start, m.end) for m in found]), grammar, vocabulary)
    found += _find_parts(text.blank([(m.start, m.end) for m in found]), grammar)
    return sorted(found, key=lambda mention: mention.start)


# ---------------------------------------------------------------------------
# Dates, read by dateparser
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _DateMention:
    """A stretch of text dateparser reads as a date."""

    start: int
    end: int
    data: DateData


@lru_cache(maxsize=128)
def _date_parser(
    languages: tuple[str, ...], base: datetime, prefer: str = "future", relative_only: bool = False
) -> DateDataParser:
    """A dateparser parser for one base time; built once and reused."""
    settings = dict(_DATEPARSER_SETTINGS, RELATIVE_BASE=base, PREFER_DATES_FROM=prefer)
    if relative_only:
        settings["PARSERS"] = ["relative-time"]
    return DateDataParser(languages=list(languages), settings=settings)


def _midnight(day: date) -> datetime:
    """Dates are read from the start of today, so that "today" and "the 13th" said on the 13th are today."""
    return datetime.combine(day, time())


@dataclass(frozen=True)
class _Vocabulary:
    """Questions about single words, answered by dateparser for the languages being read."""

    languages: tuple[str, ...]

    def is_month(self, word: str) -> bool:
        """True for "may", "maja", "mai"."""
        data = _read_word(word, self.languages)
        return data is not None and data.period == "month" and data.parts == ("month",)

    def is_weekday(self, word: str) -> bool:
        """True for "sat", "friday", "piątek"; False for "tomorrow" (relative) and numbers."""
        data = _read_word(word, self.languages)
        if data is None or data.period != "day" or regex.search(r"\d", word):
            return False
        relative = _date_parser(self.languages, _FIXED_BASE, relative_only=True).get_date_data(word)
        return relative.date_obj is None


_FIXED_BASE = datetime(2000, 1, 1)


@lru_cache(maxsize=1024)
def _read_word(word: str, languages: tuple[str, ...]) -> DateData | None:
    data = _date_parser(languages, _FIXED_BASE).get_date_data(word)
    return data if data.date_obj is not None else None


def _read_date(phrase: str, languages: tuple[str, ...], today: date, grammar: _Grammar) -> DateData | None:
    """dateparser's reading of *phrase*, or None when it is not a usable date."""
    cleaned = " ".join(phrase.split())
    if not cleaned or _ONLY_DIGITS.match(cleaned) or _is_false_friend(cleaned, grammar):
        return None

    data = _date_parser(languages, _midnight(today)).get_date_data(cleaned)
    if data.date_obj is None or data.period not in ("day", "week", "month", "time", "part_of_day"):
        return None
    if data.parts == ("day",) and not regex.search(r"\d", cleaned):
        # "a", "one", "une" are read as the 1st; a day of the month needs digits.
        return None
    if _is_length_of_time(cleaned, data, languages, today):
        return None
    return data


def _is_false_friend(phrase: str, grammar: _Grammar) -> bool:
    """True for "I sat", "the sun", "may", "się nie": date-like words that are usually something else."""
    words = phrase.split()
    friends = grammar.words.false_friends
    return " ".join(words) in friends or all(word in friends for word in words)


def _is_length_of_time(phrase: str, data: DateData, languages: tuple[str, ...], today: date) -> bool:
    """True for "waited 2 weeks", "10 mins", "now": a span of time, not a day to visit.

    Relative phrases like these move with the clock, or flip to the past when
    the past is preferred; "tomorrow" and "in 2 weeks" do neither.
    """
    base = _midnight(today)
    relative = _date_parser(languages, base, relative_only=True).get_date_data(phrase).date_obj
    if relative is None:
        return False
    if data.period == "time":
        an_hour_on = _date_parser(languages, base + timedelta(hours=1), relative_only=True)
        return an_hour_on.get_date_data(phrase).date_obj != relative
    backwards = _date_parser(languages, base, prefer="past").get_date_data(phrase).date_obj
    return backwards != data.date_obj


def _word_spans(text: _Text) -> list[tuple[int, int, bool]]:
    """(start, end, ends_clause) for each word, outer punctuation trimmed."""
    spans = []
    for match in regex.finditer(r"\S+", text.chars):
        token = match.group()
        lead = _LEADING_PUNCTUATION.match(token)
        trail = _TRAILING_PUNCTUATION.search(token)
        start = match.start() + (lead.end() if lead else 0)
        end = match.end() - (len(trail.group()) if trail else 0)
        if start < end:
            ends_clause = bool(trail and _CLAUSE_BREAK.search(trail.group() + " "))
            ends_line = _LINE_BREAK_NEXT.match(text.chars, match.end()) is not None
            spans.append((start, end, ends_clause or ends_line))
    return spans


def _scan_dates(text: _Text, languages: tuple[str, ...], today: date, grammar: _Grammar) -> Iterator[_DateMention]:
    """The longest runs of up to four words that dateparser reads as a date.

    Trying word runs ourselves, rather than dateparser's search, copes with
    typos beside the date ("resheduel for fri") and keeps "day after
    tomorrow" in one piece.
    """
    words = _word_spans(text)
    index = 0
    while index < len(words):
        mention, index = _longest_date_at(text, words, index, languages, today, grammar)
        if mention is not None:
            yield mention


def _longest_date_at(
    text: _Text,
    words: list[tuple[int, int, bool]],
    index: int,
    languages: tuple[str, ...],
    today: date,
    grammar: _Grammar,
) -> tuple[_DateMention | None, int]:
    """The longest date starting at word *index* that does not cross a comma or
    full stop, and the index of the word after it.

    A false friend ("I sat") uses up its words, so "sat" is not tried alone.
    """
    last = index
    while last < len(words) - 1 and last - index < MAX_WORDS_PER_DATE - 1 and not words[last][2]:
        last += 1

    for stop in range(last, index - 1, -1):
        phrase = text.chars[words[index][0] : words[stop][1]]
        if _is_false_friend(phrase, grammar):
            return None, stop + 1
        data = _read_date(phrase, languages, today, grammar)
        if data is not None:
            stop = _drop_trailing_filler(text, words, index, stop, data, languages, today, grammar)
            return _DateMention(words[index][0], words[stop][1], data), stop + 1
    return None, index + 1


def _reading_of(data: DateData) -> tuple:
    return data.date_obj, data.period, data.parts


def _drop_trailing_filler(
    text: _Text,
    words: list[tuple[int, int, bool]],
    index: int,
    stop: int,
    data: DateData,
    languages: tuple[str, ...],
    today: date,
    grammar: _Grammar,
) -> int:
    """Last word of the date once words dateparser skips ("3/4 and") are dropped."""
    while stop > index:
        shorter = _read_date(text.chars[words[index][0] : words[stop - 1][1]], languages, today, grammar)
        if shorter is None or _reading_of(shorter) != _reading_of(data):
            break
        stop -= 1
    return stop


def _search_dates(text: _Text, languages: tuple[str, ...], today: date, grammar: _Grammar) -> list[_DateMention]:
    """dateparser's own search, for scripts written without spaces between words (明天下午)."""
    settings = dict(_DATEPARSER_SETTINGS, RELATIVE_BASE=_midnight(today))
    results = search_dates(text.chars, languages=list(languages), settings=settings) or ()
    found = []
    position = 0
    for phrase, _ in results:
        start = text.chars.find(phrase, position)
        data = _read_date(phrase, languages, today, grammar) if start >= 0 else None
        if data is not None:
            found.append(_DateMention(start, start + len(phrase), data))
            position = start + len(phrase)
    return found


def _find_dates(text: _Text, languages: tuple[str, ...], today: date, grammar: _Grammar) -> Iterator[_DateMention]:
    """Dates in the text, in order, found only as far as they are asked for."""
    found_any = False
    for mention in _scan_dates(text, languages, today, grammar):
        found_any = True
        yield mention
    if not found_any and _UNSPACED_SCRIPT.search(text.chars):
        yield from _search_dates(text, languages, today, grammar)


# ---------------------------------------------------------------------------
# Choosing what the tenant meant
# ---------------------------------------------------------------------------


_M = TypeVar("_M", "_DateMention", "_TimeMention")


def _is_negated(text: _Text, start: int, floor: int, grammar: _Grammar) -> bool:
    """True for "can't do Monday": a negation shortly before, in the same clause."""
    scope = text.chars[max(floor, start - NEGATION_REACH) : start]
    scope = _CLAUSE_BREAK.split(scope)[-1]
    return grammar.negation.search(scope) is not None


def _choose(mentions: Iterable[_M], text: _Text, grammar: _Grammar) -> _M | None:
    return _choose_noting_negation(mentions, text, grammar)[0]


def _choose_noting_negation(mentions: Iterable[_M], text: _Text, grammar: _Grammar) -> tuple[_M | None, bool]:
    """The first mention not ruled out by "not"/"can't", or the first if all are; and whether all are.

    "cant make 2moro" still gives tomorrow: it is the only date we were told,
    and the caller learns it was ruled out. Stops reading at the answer, so a
    long message costs no more than it must.
    """
    first = None
    floor = 0
    for mention in mentions:
        if not _is_negated(text, mention.start, floor, grammar):
            return mention, False
        first = first or mention
        floor = mention.end
    return first, first is not None


def _beside(date: _DateMention, mention: _TimeMention, text: _Text) -> bool:
    """True when only spaces separate the two ("tmrw am", "am tmrw")."""
    if mention.start >= date.end:
        return not text.chars[date.end : mention.start].strip()
    return mention.end <= date.start and not text.chars[mention.end : date.start].strip()


def _pick_times(
    times: Sequence[_TimeMention], date: _DateMention | None, text: _Text, grammar: _Grammar
) -> tuple[_TimeMention | None, _TimeMention | None]:
    """(exact, part): the clock or range asked for, and the part of the day."""
    exact, part, _ = _pick_times_noting_negation(times, date, text, grammar)
    return exact, part


def _pick_times_noting_negation(
    times: Sequence[_TimeMention], date: _DateMention | None, text: _Text, grammar: _Grammar
) -> tuple[_TimeMention | None, _TimeMention | None, set[int]]:
    """_pick_times, with the starts of the chosen mentions that were ruled out ("not after 2")."""
    exact, exact_negated = _choose_noting_negation([m for m in times if m.kind != PART], text, grammar)
    part, part_negated = _choose_noting_negation([m for m in times if m.kind == PART and not m.anchored], text, grammar)
    if part is None and date is not None:
        part = next((m for m in times if m.anchored and _beside(date, m, text)), None)
    negated = {m.start for m, ruled_out in ((exact, exact_negated), (part, part_negated)) if m and ruled_out}
    return exact, part, negated


def _readings_within(exact: _TimeMention, part: _TimeMention | None) -> tuple[_Window, ...]:
    """Use "evening" in "tomorrow evening at 7" to settle whether 7 is am or pm."""
    if part is None or len(exact.readings) == 1:
        return exact.readings
    part_start, part_end = part.readings[0]
    inside = tuple(r for r in exact.readings if part_start <= r[0] < part_end)
    return inside or exact.readings


def _date_time_reading(data: DateData) -> tuple[tuple[_Window, ...], str] | None:
    """A time dateparser found inside the date itself ("tomorrow at noon")."""
    if data.period == "time":
        minutes = data.date_obj.hour * 60 + data.date_obj.minute
        return ((minutes, minutes + VISIT_MINUTES),), "time"
    if data.period == "part_of_day" and data.part_of_day is not None:
        return (PART_WINDOWS[_DATEPARSER_PARTS[data.part_of_day.value]],), "part_of_day"
    return None


_DATEPARSER_PARTS = {
    "early_morning": MORNING,
    "morning": MORNING,
    "afternoon": AFTERNOON,
    "evening": EVENING,
    "night": EVENING,
}


# ---------------------------------------------------------------------------
# Which day
# ---------------------------------------------------------------------------


def _resolve_day(data: DateData, today: date) -> date | None:
    """The day the tenant meant, never before today; None if it has passed."""
    day = data.date_obj.date()
    if data.parts == ("day",) and day < today:
        # "the 3rd": dateparser keeps this month even when the 3rd has gone.
        day = _same_day_in_coming_month(day, today)
    elif "year" not in data.parts and _a_year_before(day) == today:
        # "13 May" said on 13 May: dateparser skips to next year, but today is still on.
        day = today
    return day if day is not None and day >= today else None


def _same_day_in_coming_month(day: date, today: date) -> date | None:
    year, month = day.year, day.month
    for _ in range(12):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        try:
            candidate = date(year, month, day.day)
        except ValueError:  # no 31st in this month
            continue
        if candidate >= today:
            return candidate
    return None


def _a_year_before(day: date) -> date | None:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return None


def _first_day_ahead(window: _Window, now: datetime) -> date:
    """Today if the window still lies ahead, else tomorrow ("after 2" said at 3pm)."""
    today = now.date()
    return today if _at(today, window[0]) > now else today + timedelta(days=1)


def _at(day: date, minutes: int) -> datetime:
    """London wall-clock time *minutes* after the midnight starting *day*."""
    days, minutes = divmod(minutes, 24 * 60)
    return datetime.combine(day + timedelta(days=days), time(*divmod(minutes, 60)), tzinfo=LONDON)


def _span_of_days(data: DateData) -> tuple[date, date] | None:
    """First and last weekday of "next week" or "in June"."""
    day = data.date_obj.date()
    if data.period == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=4)
    if data.period == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following - timedelta(days=1)
    return None


# ---------------------------------------------------------------------------
# Ambiguity
# ---------------------------------------------------------------------------


def _next_weekday_in_doubt(mention: _DateMention, day: date, today: date, text: _Text, grammar: _Grammar) -> bool:
    """True for "next Tuesday" said this week: the coming Tuesday or the one after?"""
    if mention.data.period != "day" or regex.search(r"\d", text.chars[mention.start : mention.end]):
        return False
    if not 0 < (day - today).days <= NEXT_WEEKDAY_DOUBT_DAYS:
        return False
    return grammar.next_word.search(_surroundings(text, mention)) is not None


def _surroundings(text: _Text, mention: _DateMention) -> str:
    """The date with two words either side in its clause ("w przyszły wtorek", "mardi prochain")."""
    before = _CLAUSE_BREAK.split(text.chars[max(0, mention.start - 40) : mention.start])[-1]
    after = _CLAUSE_BREAK.split(text.chars[mention.end : mention.end + 40])[0]
    return " ".join([*before.split()[-2:], text.chars[mention.start : mention.end], *after.split()[:2]])


def _numeric_date_in_doubt(mention: _DateMention, text: _Text) -> bool:
    """True for "3/4": 3 April (UK) or 4 March (US)?"""
    match = _NUMERIC_DATE.search(text.chars[mention.start : mention.end])
    if match is None:
        return False
    first, second = int(match.group(1)), int(match.group(2))
    return first != second and 1 <= first <= 12 and 1 <= second <= 12


# ---------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    """What the text says, before it becomes a RequestedTime."""

    date: _DateMention | None
    exact: _TimeMention | None
    part: _TimeMention | None
    # Where the chosen mentions that a "not"/"can't" ruled out begin.
    negated: frozenset[int] = frozenset()


def _read(text: str, today: date, languages: tuple[str, ...]) -> tuple[_Text, _Grammar, _Reading]:
    """Find the date, clock or range, and part of the day the tenant meant."""
    grammar = _grammar(languages)
    work = _normalise(text, grammar)

    times = _find_times_of_day(work, grammar, _Vocabulary(languages))
    without_times = work.blank([(mention.start, mention.end) for mention in times])
    dates = _find_dates(without_times, languages, today, grammar)
    date_mention, date_negated = _choose_noting_negation(dates, work, grammar)

    exact, part, negated = _pick_times_noting_negation(times, date_mention, work, grammar)
    if date_negated:
        negated.add(date_mention.start)
    return work, grammar, _Reading(date_mention, exact, part, frozenset(negated))


def _window_of(reading: _Reading) -> tuple[tuple[_Window, ...], str]:
    """The candidate windows within a day, preferred first, and their precision."""
    if reading.exact is not None:
        return _readings_within(reading.exact, reading.part), reading.exact.precision
    from_date = _date_time_reading(reading.date.data) if reading.date else None
    if from_date is not None:
        return from_date
    if reading.part is not None:
        return reading.part.readings, "part_of_day"
    return (WORKING_DAY,), "day"


def _used_mentions(reading: _Reading) -> list[_DateMention | _TimeMention | None]:
    """The mentions that shaped the answer; a part of the day only if a clock did not override it."""
    exact, part = reading.exact, reading.part
    part_used = part is not None and (exact is None or len(exact.readings) > 1)
    return [reading.date, exact, part if part_used else None]


def _quote(text: _Text, mentions: Sequence[_DateMention | _TimeMention | None]) -> str:
    """The tenant's words that gave the answer, in the order they wrote them."""
    used = sorted((m for m in mentions if m is not None), key=lambda m: m.start)
    return " ".join(text.quote(m.start, m.end) for m in used)


def _requested_time(work: _Text, grammar: _Grammar, reading: _Reading, now: datetime) -> RequestedTime | None:
    """Turn what was read into a window of London time, or None if it has passed."""
    today = now.date()
    date_mention = reading.date

    if date_mention is not None:
        days = _span_of_days(date_mention.data)
        if days is not None:
            start, end = _at(days[0], WORKING_DAY[0]), _at(days[1], WORKING_DAY[1])
            if end <= now:
                return None
            ruled_out = _all_negated(reading, [date_mention])
            return RequestedTime(start, end, "day", _quote(work, [date_mention]), False, ruled_out)

    windows, precision = _window_of(reading)
    if date_mention is not None:
        day = _resolve_day(date_mention.data, today)
    elif reading.part is not None and reading.part.means_today:
        day = today
    else:
        day = _first_day_ahead(windows[0], now)
    if day is None:
        return None

    start, end = _at(day, windows[0][0]), _at(day, windows[0][1])
    if end <= now:
        return None

    ambiguous = len(windows) > 1
    if date_mention is not None:
        ambiguous = ambiguous or _next_weekday_in_doubt(date_mention, day, today, work, grammar)
        ambiguous = ambiguous or _numeric_date_in_doubt(date_mention, work)
    used = _used_mentions(reading)
    return RequestedTime(start, end, precision, _quote(work, used), ambiguous, _all_negated(reading, used))


def _all_negated(reading: _Reading, mentions: Sequence[_DateMention | _TimeMention | None]) -> bool:
    """Every mention that shaped the answer was ruled out: a time the tenant cannot do, not one they asked for."""
    used = [mention for mention in mentions if mention is not None]
    return bool(used) and all(mention.start in reading.negated for mention in used)


def parse_requested_time(text: str, now: datetime, languages: Sequence[str] = ("en",)) -> RequestedTime | None:
    """When the tenant would like the visit, read from *text*, or None if it names no time.

    *now* must be timezone-aware (any zone); everything is read in Europe/London.
    Dates lie ahead of *now*; a time that has already gone today gives None.
    Never raises because of what the tenant wrote.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    codes = _checked_languages(languages)
    if not isinstance(text, str) or not text.strip():
        return None

    london_now = now.astimezone(LONDON)
    try:
        work, grammar, reading = _read(_spaced_chinese(text), london_now.date(), codes)
        if reading.date is None and reading.exact is None and reading.part is None:
            return None
        return _requested_time(work, grammar, reading, london_now)
    except Exception:  # a tenant's words must never break the conversation
        log.exception("could not read a requested time from a message")
        return None


def _spaced_chinese(text: str) -> str:
    """Chinese has no spaces between words; jieba puts them in so the word tables can match."""
    if not _HAN.search(text):
        return text
    return " ".join(piece for piece in _jieba().cut(text) if piece.strip())


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it announces loading its dictionary at INFO
    return jieba


def parse_time_of_day_words(text: str, languages: Sequence[str] = ("en",)) -> tuple[time, time, str] | None:
    """The time of day in *text*, ignoring any date, as (start, end, precision).

    "after 2" -> (14:00, 17:00, "part_of_day"); "at 10" -> (10:00, 11:00, "time");
    "tonight" -> (17:00, 20:00, "part_of_day"). None when there is none.
    """
    codes = _checked_languages(languages)
    if not isinstance(text, str):
        return None
    try:
        grammar = _grammar(codes)
        work = _normalise(text, grammar)
        times = _find_times_of_day(work, grammar, _Vocabulary(codes))
        exact, part = _pick_times([m for m in times if not m.anchored], None, work, grammar)
    except Exception:  # a tenant's words must never break the conversation
        log.exception("could not read a time of day from a message")
        return None

    chosen = exact or part
    if chosen is None:
        return None
    start, end = _readings_within(chosen, part)[0]
    return _clock(start), _clock(min(end, 24 * 60 - 1)), chosen.precision


def _clock(minutes: int) -> time:
    return time(*divmod(minutes, 60))


def _checked_languages(languages: Sequence[str]) -> tuple[str, ...]:
    """Language codes as a tuple; an unknown code is a configuration mistake, so it raises."""
    codes = (languages,) if isinstance(languages, str) else tuple(languages)
    unknown = [code for code in codes if code not in languages_info.language_order]
    if not codes or unknown:
        raise ValueError(f"dateparser does not know these languages: {unknown or 'none given'}")
    return codes
