"""Reading when a tenant wants a visit from their text message (service/dates.py).

Every test passes ``now`` explicitly; nothing freezes the clock globally.
"""

import time as stopwatch
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from service.dates import (
    PART_WINDOWS,
    RequestedTime,
    day_words,
    parse_requested_time,
    parse_time_of_day_words,
)

LONDON = ZoneInfo("Europe/London")


def london(year, month, day, hour=0, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


# Mon 13 May 2024, 10:00 BST: the "now" for most tests.
MONDAY_MORNING = london(2024, 5, 13, 10)


def window(result):
    """(start, end) as naive London wall-clock times, for short expectations."""
    return result.start.replace(tzinfo=None), result.end.replace(tzinfo=None)


def wall(year, month, day, hour, minute=0):
    return datetime(year, month, day, hour, minute)


# ---------------------------------------------------------------------------
# Field reports
# ---------------------------------------------------------------------------


def test_br16_tomorrow_pm_said_late_on_sunday_means_monday_afternoon():
    result = parse_requested_time("tomorrow pm please", london(2024, 5, 12, 23, 30))

    assert window(result) == (wall(2024, 5, 13, 12), wall(2024, 5, 13, 17))
    assert result.start.tzinfo == LONDON
    assert result.precision == "part_of_day"
    assert result.matched == "tomorrow pm"
    assert result.ambiguous is False


def test_br16_today_5pm_said_just_after_midnight_means_that_monday_at_five():
    result = parse_requested_time("today 5pm", london(2024, 5, 13, 0, 30))

    assert result.start == london(2024, 5, 13, 17)
    assert result.start.astimezone(timezone.utc) == datetime(2024, 5, 13, 16, tzinfo=timezone.utc)
    assert result.end == london(2024, 5, 13, 18)
    assert result.precision == "time"


def test_now_in_another_timezone_is_read_as_london_time():
    # 23:30 UTC on Sunday is already 00:30 on Monday in London (BST).
    result = parse_requested_time("today 5pm", datetime(2024, 5, 12, 23, 30, tzinfo=timezone.utc))

    assert result.start == london(2024, 5, 13, 17)


@pytest.mark.parametrize(
    ("text", "start", "end", "precision", "matched"),
    [
        (
            "can you do Thursday afternoon instead?",
            wall(2024, 5, 16, 12),
            wall(2024, 5, 16, 17),
            "part_of_day",
            "Thursday afternoon",
        ),
        ("resheduel for fri", wall(2024, 5, 17, 8), wall(2024, 5, 17, 17), "day", "fri"),
        ("cant make 2moro can u change it", wall(2024, 5, 14, 8), wall(2024, 5, 14, 17), "day", "2moro"),
        ("tmrw am ok", wall(2024, 5, 14, 8), wall(2024, 5, 14, 12), "part_of_day", "tmrw am"),
    ],
)
def test_field_report_messages_give_the_window_the_tenant_meant(text, start, end, precision, matched):
    result = parse_requested_time(text, MONDAY_MORNING)

    assert window(result) == (start, end)
    assert result.precision == precision
    assert result.matched == matched


@pytest.mark.parametrize(
    ("now", "local_start", "utc_start"),
    [
        # Clocks go forward on Sun 31 Mar 2024: 10:00 is BST.
        (london(2024, 3, 30, 12), wall(2024, 3, 31, 10), datetime(2024, 3, 31, 9, tzinfo=timezone.utc)),
        # Clocks go back on Sun 27 Oct 2024: 10:00 is GMT.
        (london(2024, 10, 26, 12), wall(2024, 10, 27, 10), datetime(2024, 10, 27, 10, tzinfo=timezone.utc)),
    ],
)
def test_tomorrow_10am_over_a_clock_change_is_10am_on_the_london_wall_clock(now, local_start, utc_start):
    result = parse_requested_time("tomorrow 10am", now)

    assert result.start.replace(tzinfo=None) == local_start
    assert result.start.astimezone(timezone.utc) == utc_start
    assert result.end - result.start == (result.end.astimezone(timezone.utc) - utc_start)


# ---------------------------------------------------------------------------
# Relative words and dates
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("tomorrow", (2024, 5, 14)),
        ("today", (2024, 5, 13)),
        ("tmrw", (2024, 5, 14)),
        ("2moro", (2024, 5, 14)),
        ("tmr", (2024, 5, 14)),
        ("tommorow", (2024, 5, 14)),
        ("day after tomorrow", (2024, 5, 15)),
        ("next Tuesday", (2024, 5, 14)),
        ("this Friday", (2024, 5, 17)),
        ("fri", (2024, 5, 17)),
        ("thurs", (2024, 5, 16)),
        ("weds", (2024, 5, 15)),
        ("tues", (2024, 5, 14)),
        ("monday", (2024, 5, 20)),
        ("14th", (2024, 5, 14)),
        ("14 May", (2024, 5, 14)),
        ("May 14th", (2024, 5, 14)),
        ("the 3rd", (2024, 6, 3)),
        ("friday the 17th", (2024, 5, 17)),
    ],
)
def test_a_day_on_its_own_is_the_working_day_on_the_next_such_date(text, day):
    result = parse_requested_time(text, MONDAY_MORNING)

    assert window(result) == (wall(*day, 8), wall(*day, 17))
    assert result.precision == "day"


@pytest.mark.parametrize(
    ("text", "matched", "monday"),
    [
        ("can they come next week", "next week", 20),
        ("any time nxt wk", "nxt wk", 20),
        ("in a fortnight", "in a fortnight", 27),
    ],
)
def test_a_week_is_monday_morning_to_friday_evening_of_that_week(text, matched, monday):
    result = parse_requested_time(text, MONDAY_MORNING)

    assert window(result) == (wall(2024, 5, monday, 8), wall(2024, 5, monday + 4, 17))
    assert result.precision == "day"
    assert result.matched == matched


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("3/4", (2025, 4, 3)),
        ("04/05/2025", (2025, 5, 4)),
        ("13/5", (2024, 5, 13)),
        ("29 feb", (2028, 2, 29)),
    ],
)
def test_numeric_dates_are_day_first_and_in_the_future(text, day):
    result = parse_requested_time(text, MONDAY_MORNING)

    assert result.start.date() == datetime(*day).date()


def test_a_date_said_on_that_very_day_means_today_not_next_year():
    result = parse_requested_time("13 May", MONDAY_MORNING)

    assert result.start.date() == MONDAY_MORNING.date()


@pytest.mark.parametrize(
    ("text", "now"),
    [
        ("today", london(2024, 5, 13, 18)),
        ("today 5pm", london(2024, 5, 13, 18)),
        ("tonight", london(2024, 5, 13, 21)),
        ("04/05/2023", MONDAY_MORNING),
        ("yesterday", MONDAY_MORNING),
    ],
)
def test_a_time_that_has_already_gone_gives_none(text, now):
    assert parse_requested_time(text, now) is None


# ---------------------------------------------------------------------------
# Parts of the day and clock times
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("tomorrow morning", 8, 12),
        ("tomorrow in the morning", 8, 12),
        ("tomorrow am", 8, 12),
        ("tomorrow afternoon", 12, 17),
        ("tomorrow pm", 12, 17),
        ("tomorrow evening", 17, 20),
        ("tomorrow after 2", 14, 17),
        ("tomorrow after 10", 10, 17),
        ("tomorrow after 5", 17, 20),
        ("tomorrow before 10", 8, 10),
        ("tomorrow between 10 and 2", 10, 14),
        ("tomorrow between 10-12", 10, 12),
    ],
)
def test_parts_of_the_day_and_ranges_give_a_window_on_that_day(text, start, end):
    result = parse_requested_time(text, MONDAY_MORNING)

    assert window(result) == (wall(2024, 5, 14, start), wall(2024, 5, 14, end))
    assert result.precision == "part_of_day"


@pytest.mark.parametrize(
    ("text", "hour", "minute"),
    [
        ("tomorrow at 10", 10, 0),
        ("tomorrow 10am", 10, 0),
        ("tomorrow 10:30", 10, 30),
        ("tomorrow 5pm", 17, 0),
        ("tomorrow at 2", 14, 0),
        ("tomorrow 7.30pm", 19, 30),
        ("tomorrow at 7 in the evening", 19, 0),
        ("tomorrow evening at 7", 19, 0),
        ("tomorrow at noon", 12, 0),
    ],
)
def test_an_explicit_time_is_an_hour_long_visit_starting_then(text, hour, minute):
    result = parse_requested_time(text, MONDAY_MORNING)

    assert result.start == london(2024, 5, 14, hour, minute)
    assert result.end == london(2024, 5, 14, hour + 1, minute)
    assert result.precision == "time"
    assert result.ambiguous is False


def test_tonight_is_this_evening():
    result = parse_requested_time("could they come tonight", MONDAY_MORNING)

    assert window(result) == (wall(2024, 5, 13, 17), wall(2024, 5, 13, 20))
    assert result.precision == "part_of_day"


@pytest.mark.parametrize(
    ("text", "now", "day"),
    [
        ("after 2", MONDAY_MORNING, 13),
        ("after 2", london(2024, 5, 13, 15), 14),
        ("in the afternoon", MONDAY_MORNING, 13),
        ("in the morning", london(2024, 5, 13, 9), 14),
    ],
)
def test_a_time_of_day_without_a_date_means_its_next_start(text, now, day):
    result = parse_requested_time(text, now)

    assert result.start.date() == datetime(2024, 5, day).date()


def test_a_weekday_followed_by_a_small_number_means_an_hour_on_that_day():
    result = parse_requested_time("can u do sun 10", MONDAY_MORNING)

    assert result.start == london(2024, 5, 19, 10)
    assert result.precision == "time"


def test_a_number_before_a_month_name_is_a_date_not_a_time():
    result = parse_requested_time("can you do it at 14 May", MONDAY_MORNING)

    assert window(result) == (wall(2024, 5, 14, 8), wall(2024, 5, 14, 17))


def test_before_8_gives_a_window_ending_at_eight_without_crashing():
    result = parse_requested_time("can you stop them coming before 8", MONDAY_MORNING)

    assert result.end.replace(tzinfo=None).time() == time(8)
    assert result.start < result.end


# ---------------------------------------------------------------------------
# Ambiguity
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "now", "ambiguous"),
    [
        ("3/4", MONDAY_MORNING, True),
        ("04/05/2025", MONDAY_MORNING, True),
        ("13/5", MONDAY_MORNING, False),
        ("14 May", MONDAY_MORNING, False),
        ("next tuesday", MONDAY_MORNING, True),
        ("next tuesday", london(2024, 5, 15, 10), True),
        ("next tuesday", london(2024, 5, 14, 10), False),
        ("this tuesday", MONDAY_MORNING, False),
        ("tomorrow at 7", MONDAY_MORNING, True),
        ("tomorrow at 7pm", MONDAY_MORNING, False),
        ("tomorrow at 10", MONDAY_MORNING, False),
        ("tomorrow at 3", MONDAY_MORNING, False),
    ],
)
def test_ambiguous_is_set_only_when_a_reader_could_take_it_two_ways(text, now, ambiguous):
    assert parse_requested_time(text, now).ambiguous is ambiguous


@pytest.mark.parametrize(
    "text, ruled_out",
    [
        ("I can't do Monday, I'm at work", True),
        ("not wednesday", True),
        ("cant make 2moro", True),
        ("can't do thursday morning", True),
        ("can't do wednesday, thursday?", False),
        ("I'm not in on Wednesday but Thursday is fine", False),
        ("not before 10 on thursday", False),
        ("thursday please", False),
        ("no, thursday afternoon", False),
    ],
)
def test_a_time_every_mention_of_which_is_negated_is_marked_ruled_out(text, ruled_out):
    assert parse_requested_time(text, MONDAY_MORNING).ruled_out is ruled_out


def test_next_tuesday_on_a_monday_resolves_to_the_coming_tuesday():
    result = parse_requested_time("next tuesday", MONDAY_MORNING)

    assert result.start.date() == datetime(2024, 5, 14).date()


def test_a_bare_seven_is_taken_as_the_evening_but_flagged():
    result = parse_requested_time("at 7", MONDAY_MORNING)

    assert result.start == london(2024, 5, 13, 19)
    assert result.ambiguous is True


# ---------------------------------------------------------------------------
# Choosing between dates and ignoring what is not a date
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("cant do monday can u do tuesday", 14),
        ("not tuesday, wednesday", 15),
        ("i cant do tomorrow. friday?", 17),
        ("Wednesday at 4pm or Thursday morning", 15),
    ],
)
def test_the_date_the_tenant_can_do_wins_over_the_one_they_cannot(text, day):
    assert parse_requested_time(text, MONDAY_MORNING).start.date() == datetime(2024, 5, day).date()


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "ok see you then",
        "asdfgh jkl",
        "",
        "   ",
        "👍",
        "stop",
        # "may" alone is far more often the verb than the month: never read as May.
        "I may be out",
        "I sat in all day and no one came",
        "the sun is out",
        "we can do it",
        "one of them is broken",
        "I've waited 2 weeks for this",
        "10 mins away",
        "call me on 07700900123",
        "flat 2",
    ],
)
def test_text_without_a_requested_time_gives_none(text):
    assert parse_requested_time(text, MONDAY_MORNING) is None


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("I'm satisfied with friday", 17),
        ("sunny friday", 17),
        ("the wedding is on saturday", 18),
        ("I may be out on the 14th", 14),
    ],
)
def test_weekday_letters_inside_other_words_do_not_make_dates(text, day):
    assert parse_requested_time(text, MONDAY_MORNING).start.date() == datetime(2024, 5, day).date()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x01\x02\x7f\x1b[31m",
        "\u202e\u200b\ufeff",
        "👍" * 500,
        "a" * 10_000,
        "tomorrow " * 1_200,
        "9" * 10_000,
        "at 99:99",
        "at 0",
        "at 12am",
        "between 25 and 26",
        "after 0",
        "before 0",
        "31/02",
        "0/0",
        "\ud800",
        "%s %d {} {{}} \\",
        "(?P<x>.*)",
        "1" + "/1" * 300,
    ],
)
def test_any_string_is_answered_without_raising(text):
    result = parse_requested_time(text, MONDAY_MORNING)

    assert result is None or isinstance(result, RequestedTime)


def test_control_characters_around_a_date_are_ignored():
    result = parse_requested_time("\x00tomorrow\x07", MONDAY_MORNING)

    assert result.start.date() == datetime(2024, 5, 14).date()
    assert result.matched == "tomorrow"


def test_a_very_long_message_is_read_quickly():
    parse_requested_time("tomorrow", MONDAY_MORNING)  # dateparser loads its data on first use
    started = stopwatch.perf_counter()

    parse_requested_time("please could you " * 600, MONDAY_MORNING)

    assert stopwatch.perf_counter() - started < 5


def test_a_naive_now_is_a_programming_error():
    with pytest.raises(ValueError):
        parse_requested_time("tomorrow", datetime(2024, 5, 13, 10))


def test_a_language_dateparser_does_not_know_is_a_configuration_error():
    with pytest.raises(ValueError):
        parse_requested_time("tomorrow", MONDAY_MORNING, languages=("xx",))


# ---------------------------------------------------------------------------
# Other languages
# ---------------------------------------------------------------------------

# "Tomorrow" in each language the service is meant to support; all are known to dateparser.
TOMORROW = {
    "en": "tomorrow",
    "cy": "yfory",
    "pl": "jutro",
    "ro": "mâine",
    "ur": "آئندہ کل",
    "pa": "ਭਲਕੇ",
    "bn": "আগামীকাল",
    "gu": "આવતીકાલે",
    "ar": "غدًا",
    "so": "berri",
    "pt": "amanhã",
    "es": "mañana",
    "lt": "rytoj",
    "tr": "yarın",
    "fr": "demain",
    "fa": "فردا",
    "ti": "ጽባሕ",
    "zh": "明天",
    "uk": "завтра",
    "ru": "завтра",
}


@pytest.mark.parametrize(("language", "word"), sorted(TOMORROW.items()))
def test_tomorrow_is_understood_in_every_supported_language(language, word):
    result = parse_requested_time(word, MONDAY_MORNING, languages=(language,))

    assert window(result) == (wall(2024, 5, 14, 8), wall(2024, 5, 14, 17))


@pytest.mark.parametrize(
    ("language", "text", "start", "end", "precision"),
    [
        ("pl", "jutro rano", wall(2024, 5, 14, 8), wall(2024, 5, 14, 12), "part_of_day"),
        ("pl", "w czwartek po południu", wall(2024, 5, 16, 12), wall(2024, 5, 16, 17), "part_of_day"),
        ("pl", "jutro o 10", wall(2024, 5, 14, 10), wall(2024, 5, 14, 11), "time"),
        ("pl", "nie mogę jutro, może w piątek?", wall(2024, 5, 17, 8), wall(2024, 5, 17, 17), "day"),
        ("es", "mañana por la tarde", wall(2024, 5, 14, 12), wall(2024, 5, 14, 17), "part_of_day"),
        ("es", "pasado mañana", wall(2024, 5, 15, 8), wall(2024, 5, 15, 17), "day"),
        ("es", "el jueves a las 10", wall(2024, 5, 16, 10), wall(2024, 5, 16, 11), "time"),
        ("es", "la semana que viene", wall(2024, 5, 20, 8), wall(2024, 5, 24, 17), "day"),
        ("fr", "demain matin", wall(2024, 5, 14, 8), wall(2024, 5, 14, 12), "part_of_day"),
        ("fr", "jeudi à 14h30", wall(2024, 5, 16, 14, 30), wall(2024, 5, 16, 15, 30), "time"),
        ("fr", "après demain", wall(2024, 5, 15, 8), wall(2024, 5, 15, 17), "day"),
        ("fr", "ce soir", wall(2024, 5, 13, 17), wall(2024, 5, 13, 20), "part_of_day"),
        ("cy", "yfory yn y bore", wall(2024, 5, 14, 8), wall(2024, 5, 14, 12), "part_of_day"),
        ("cy", "dydd iau prynhawn", wall(2024, 5, 16, 12), wall(2024, 5, 16, 17), "part_of_day"),
        ("cy", "fory am 10", wall(2024, 5, 14, 10), wall(2024, 5, 14, 11), "time"),
        ("cy", "heno", wall(2024, 5, 13, 17), wall(2024, 5, 13, 20), "part_of_day"),
    ],
)
def test_parts_of_the_day_are_understood_in_polish_spanish_french_and_welsh(language, text, start, end, precision):
    result = parse_requested_time(text, MONDAY_MORNING, languages=(language,))

    assert window(result) == (start, end)
    assert result.precision == precision


@pytest.mark.parametrize(
    ("language", "text"),
    [("pl", "w przyszły wtorek"), ("es", "el próximo martes"), ("fr", "mardi prochain"), ("cy", "dydd mawrth nesaf")],
)
def test_next_tuesday_is_ambiguous_in_other_languages_too(language, text):
    result = parse_requested_time(text, MONDAY_MORNING, languages=(language,))

    assert result.start.date() == datetime(2024, 5, 14).date()
    assert result.ambiguous is True


@pytest.mark.parametrize(
    ("language", "text"),
    [("pl", "tak"), ("pl", "się nie martw"), ("es", "mi casa"), ("fr", "je suis là"), ("cy", "mae hi'n braf")],
)
def test_everyday_words_that_look_like_weekdays_give_none_in_other_languages(language, text):
    assert parse_requested_time(text, MONDAY_MORNING, languages=(language,)) is None


def test_english_am_is_not_read_as_morning_unless_it_is_beside_a_date():
    assert parse_requested_time("I am free tomorrow", MONDAY_MORNING).precision == "day"


def test_every_part_of_day_word_names_a_known_window():
    for table in day_words().values():
        for parts in (table.parts, table.parts_today, table.parts_anchored):
            assert set(parts.values()) <= set(PART_WINDOWS)
            assert all(phrase == phrase.lower() for phrase in parts)


# ---------------------------------------------------------------------------
# The time of day on its own
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("after 2", (time(14), time(17), "part_of_day")),
        ("before 10", (time(8), time(10), "part_of_day")),
        ("at 10", (time(10), time(11), "time")),
        ("tonight", (time(17), time(20), "part_of_day")),
        ("in the morning", (time(8), time(12), "part_of_day")),
        ("hello", None),
        ("I am here", None),
    ],
)
def test_time_of_day_words_are_read_without_a_date(text, expected):
    assert parse_time_of_day_words(text) == expected


@pytest.mark.parametrize(
    ("text", "day", "start_hour"),
    [("改到周四下午", 16, 12), ("明天上午可以吗", 14, 8), ("能改到星期五吗", 17, 8)],
)
def test_chinese_written_without_spaces_is_still_read(text, day, start_hour):
    found = parse_requested_time(text, MONDAY_MORNING, languages=("zh", "en"))
    assert (found.start.day, found.start.hour) == (day, start_hour)
