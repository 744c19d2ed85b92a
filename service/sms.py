"""What a text costs: GSM-7 or UCS-2, and how many parts it is split into.

One character outside the GSM-7 alphabet (a curly apostrophe, most accents,
any non-Latin script, an emoji) turns the whole message into UCS-2, at 70
characters a part instead of 160. Typographic punctuation is therefore swapped
for its plain twin before sending, so a stray ’ never doubles a bill.
"""

from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

TYPOGRAPHIC = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
    }
)


@dataclass(frozen=True)
class SmsCost:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7 (extension characters count twice), UTF-16 code units for UCS-2
    segments: int


def plain_punctuation(text: str) -> str:
    return text.translate(TYPOGRAPHIC)


def sms_cost(text: str) -> SmsCost:
    try:
        units = len(text.encode("gsm03.38"))
        single, multi, encoding = 160, 153, "GSM-7"
    except UnicodeError:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // multi)
    return SmsCost(encoding, units, segments)
