"""Every language: complete catalogs, SMS cost, right-to-left text, language choice."""

import re
import threading
from datetime import datetime

import pytest
from babel.messages.pofile import read_po
from bidi import get_display

from service import i18n
from service.languages import configured_languages, detect_language, requested_language
from service.settings import load_settings
from service.sms import plain_punctuation, sms_cost
from service.texts import PLURAL_TEXTS, TEXTS
from tests.factories import london

SETTINGS = load_settings()
LANGUAGES = configured_languages(SETTINGS)
CODES = [language.code for language in LANGUAGES]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
MACHINE_DRAFT = "machine-drafted"
# Realistic and long: the longest name and visit type we send make the worst case.
REMINDER_VALUES = {"name": "Oluwaseun", "visit": "smoke and CO alarm check"}
SLOT = (london(2024, 5, 14, 10), london(2024, 5, 14, 11))


def catalog(code):
    with open(i18n.LOCALES_DIR / code / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=code)


def test_twenty_languages_are_configured_each_with_a_catalog_and_training_data():
    assert len({language.nlu for language in LANGUAGES}) >= 20
    for language in LANGUAGES:
        assert (i18n.LOCALES_DIR / language.code / "LC_MESSAGES" / "messages.po").exists(), language.code
        assert list((i18n.LOCALES_DIR.parent / "nlu_data" / language.nlu).glob("*.yml")), language.nlu


@pytest.mark.parametrize("code", CODES)
def test_catalog_translates_every_message_and_keeps_every_placeholder(code):
    entries = {message.id: message for message in catalog(code) if message.id}
    sources = list(TEXTS.values()) + list(PLURAL_TEXTS.values())
    for source in sources:
        key = source if isinstance(source, str) else source
        message = entries.get(key)
        assert message is not None, f"{code} lacks {source!r}"
        assert not message.fuzzy, f"{code}: fuzzy entries are not used: {source!r}"
        wanted = set(PLACEHOLDER.findall(source if isinstance(source, str) else source[0]))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if code != "en":
            assert all(strings), f"{code} has no translation for {source!r}"
        for translated in strings:
            if translated:
                assert set(PLACEHOLDER.findall(translated)) == wanted, f"{code}: placeholders in {translated!r}"


@pytest.mark.parametrize("code", [code for code in CODES if code != "en"])
def test_machine_drafted_translations_are_marked_for_native_review(code):
    translated = [m for m in catalog(code) if m.id and m.string]
    assert translated
    assert all(any(MACHINE_DRAFT in comment for comment in m.user_comments) for m in translated), code


@pytest.mark.parametrize("code", CODES)
def test_every_plural_form_renders(code):
    for count in (0, 1, 2, 3, 5, 11, 21, 100):
        assert str(count) in i18n.render("minutes", code, num=count)


def sms_report():
    """Encoding and parts of the reminder in every language (printed with -s)."""
    rows = []
    for code in CODES:
        text = plain_punctuation(
            i18n.render(
                "reminder",
                code,
                name=REMINDER_VALUES["name"],
                visit=i18n.render("visit_type.alarm_check", code),
                slot=i18n.format_slot(*SLOT, code),
            )
        )
        rows.append((code, sms_cost(text), text))
    return rows


def test_each_reminder_fits_three_sms_parts_and_reports_its_cost():
    print("\nlanguage  encoding  units  parts")
    for code, cost, _text in sms_report():
        print(f"{code:9} {cost.encoding:8} {cost.units:6} {cost.segments:5}")
        assert cost.segments <= 3, code


def test_a_curly_quote_or_dash_never_pushes_a_gsm7_text_into_ucs2():
    typographic = "Your visit\u2019s on Tue 14 May, 10:00\u201311:00 \u2014 reply \u201cYES\u201d\u2026"
    assert sms_cost(typographic).encoding == "UCS-2"
    assert sms_cost(plain_punctuation(typographic)).encoding == "GSM-7"


@pytest.mark.parametrize("code", ["en", "cy", "fr", "so"])
def test_languages_written_in_the_gsm7_alphabet_send_their_reminder_as_gsm7(code):
    costs = {row[0]: row[1] for row in sms_report()}
    assert costs[code].encoding == "GSM-7"


@pytest.mark.parametrize("code", [code for code in CODES if i18n.is_rtl_locale(code)])
def test_times_inside_right_to_left_text_keep_their_order(code):
    text = i18n.render(
        "when_answer", code, visit=i18n.render("visit_type.gas_safety_check", code), slot=i18n.format_slot(*SLOT, code)
    )
    shown = get_display(text)
    assert "10:00-11:00" in shown, shown


def test_reminders_rendered_at_once_on_threads_keep_each_tenants_language():
    codes = ["so", "cy", "ar"]
    expected = {
        code: i18n.render(
            "reminder",
            code,
            name="Ayaan",
            visit=i18n.render("visit_type.repair", code),
            slot=i18n.format_slot(*SLOT, code),
        )
        for code in codes
    }
    assert len(set(expected.values())) == 3
    results, errors = {}, []

    def render_many(code):
        try:
            for _ in range(200):
                text = i18n.render(
                    "reminder",
                    code,
                    name="Ayaan",
                    visit=i18n.render("visit_type.repair", code),
                    slot=i18n.format_slot(*SLOT, code),
                )
                assert text == expected[code]
            results[code] = True
        except Exception as error:  # noqa: BLE001 (collected and reported below)
            errors.append(error)

    threads = [threading.Thread(target=render_many, args=(code,)) for code in codes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and set(results) == set(codes)


@pytest.mark.parametrize(
    "given, expected",
    [
        ("pt-BR", "pt"),
        ("en_UK", "en"),
        ("EN", "en"),
        ("zh-Hant", "zh_Hans"),
        ("ti", "ti"),
        ("", "en"),
        ("null", "en"),
        ("xx-garbage-", "en"),
        ("pa-Arab", "pa_Arab"),
        ("cy_GB", "cy"),
    ],
)
def test_language_codes_from_other_systems_map_to_the_nearest_catalog(given, expected):
    assert i18n.normalise_locale(given) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("in Polish please", "pl"),
        ("po polsku", "pl"),
        ("Cymraeg", "cy"),
        ("en español", "es"),
        ("can you text me in urdu", "ur"),
        ("بالعربي", "ar"),
        ("ok", None),
        ("Tak", None),
        ("yes", None),
        ("👍", None),
        ("I can't make Polish class", None),
    ],
)
def test_an_explicit_request_names_the_language(text, expected):
    assert requested_language(text, SETTINGS) == expected


@pytest.mark.parametrize("text", ["ok", "👍", "Tak", "yes", "si", "da", "merci"])
def test_short_replies_never_suggest_another_language(text):
    assert detect_language(text, SETTINGS) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Chciałbym przełożyć wizytę na przyszły tydzień, bo pracuję", "pl"),
        ("Je ne serai pas à la maison demain matin, désolé", "fr"),
        ("ਮੈਂ ਕੱਲ੍ਹ ਘਰ ਨਹੀਂ ਹੋਵਾਂਗਾ ਕਿਰਪਾ ਕਰਕੇ ਸਮਾਂ ਬਦਲੋ", "pa"),
    ],
)
def test_a_longer_message_reveals_its_language(text, expected):
    assert detect_language(text, SETTINGS) == expected


def test_dates_are_formatted_for_the_tenants_locale_in_london_time():
    winter = datetime.fromisoformat("2024-01-09T10:00:00+00:00")
    assert i18n.format_slot(winter, winter, "en") == "Tue 9 Jan, 10:00-10:00"
    assert "Jan" not in i18n.format_day(winter, "pl")
