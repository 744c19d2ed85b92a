"""The evidence record as a PDF for a legal team: the subject, then every line in order, on numbered pages.

Text is set in a Unicode TrueType font embedded in the file (DejaVu Sans from
the system, with Noto fonts as fallbacks where installed), shaped with HarfBuzz
so Arabic, Urdu and Farsi read right to left with joined letters. A character
none of those fonts has (Bengali or Chinese without Noto, say) cannot be drawn:
it is replaced by a note naming its script, and the PDF says the exact words
are in the CSV export of the same record.
"""

import logging
import unicodedata
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import TableCellFillMode

from service.evidence import Evidence, Row, london, utc

log = logging.getLogger(__name__)

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path("/Library/Fonts"))
MAIN_FONTS = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf")
BOLD_FONTS = {"DejaVuSans.ttf": "DejaVuSans-Bold.ttf", "NotoSans-Regular.ttf": "NotoSans-Bold.ttf"}
# Used, when installed, for scripts the main font lacks.
FALLBACK_FONTS = (
    "NotoSansArabic-Regular.ttf",
    "NotoSansBengali-Regular.ttf",
    "NotoSansGujarati-Regular.ttf",
    "NotoSansGurmukhi-Regular.ttf",
    "NotoSansEthiopic-Regular.ttf",
    "NotoSansCJK-Regular.ttc",
    "NotoSansSC-Regular.otf",
)
COLUMN_WIDTHS = (38, 34, 30, 28, 147)
SCRIPT_NAMES = {"CJK": "Chinese", "HANGUL": "Korean", "HIRAGANA": "Japanese", "KATAKANA": "Japanese"}
HEADINGS = ("When (London / UTC)", "What", "By", "Channel, status", "Text and detail")
UNSHOWN_NOTE = (
    "Some text is in a script the fonts in this PDF cannot show; it is marked [... text] here. "
    "The exact words are in the CSV export of this record."
)


def to_pdf(evidence: Evidence) -> bytes:
    pdf = _document(evidence)
    fonts = _fonts(pdf)
    # Every cell is made drawable first, so the heading can say whether anything had to be noted instead.
    rows = [_cells(fonts, row) for row in evidence.rows]
    _heading(pdf, fonts, evidence)
    _table(pdf, fonts, rows)
    return bytes(pdf.output())


def _document(evidence: Evidence) -> FPDF:
    pdf = _Pdf(orientation="landscape", format="A4")
    pdf.footer_text = f"{evidence.title}. Generated {utc(evidence.generated_at)}."
    pdf.set_title(evidence.title)
    pdf.set_creator("Tenant access assistant")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    return pdf


class _Pdf(FPDF):
    footer_text = ""

    def footer(self):
        self.set_y(-12)
        self.set_font(size=7)
        self.cell(0, 5, f"{self.footer_text} Page {self.page_no()} of {{nb}}", align="C")


class _Fonts:
    """The fonts embedded in the document, and what text they can draw."""

    def __init__(self, pdf: FPDF, family: str, unicode: bool, covered: set[int]):
        self.pdf, self.family, self.unicode, self.covered = pdf, family, unicode, covered
        self.dropped = False

    def showable(self, text: str) -> str:
        """The text with each word no font here can draw replaced by a note naming its script."""
        lines = []
        for line in (text or "").split("\n"):
            shown = []
            for word in line.split(" "):
                missing = [ch for ch in word if not self._can_draw(ch)]
                if not missing:
                    shown.append(word)
                    continue
                self.dropped = True
                note = _unshown(missing)
                # Several words in one script read as one note.
                if not shown or shown[-1] != note:
                    shown.append(note)
            lines.append(" ".join(shown))
        return "\n".join(lines)

    def _can_draw(self, ch: str) -> bool:
        if ch.isspace() or unicodedata.category(ch) == "Cf":
            return True
        if not self.unicode:
            return ord(ch) < 256
        return ord(ch) in self.covered


def _unshown(characters: list[str]) -> str:
    scripts = {_script(ch) for ch in characters if not ch.isspace()}
    return f"[{'/'.join(sorted(scripts)) or 'other'} text]"


def _script(ch: str) -> str:
    """The script's name as Unicode gives it first in the character's name: "BENGALI LETTER KA" is Bengali."""
    first = unicodedata.name(ch, "OTHER").split(" ")[0]
    return SCRIPT_NAMES.get(first, first.capitalize())


def _fonts(pdf: FPDF) -> _Fonts:
    main = _find(MAIN_FONTS)
    if main is None:
        # No Unicode font on this machine: the core font, and every other character noted.
        log.warning("no Unicode font found for the evidence PDF; non-Latin text is noted, not drawn")
        pdf.set_font("helvetica", size=8)
        return _Fonts(pdf, "helvetica", unicode=False, covered=set())

    pdf.add_font("Evidence", "", str(main))
    bold = _find((BOLD_FONTS.get(main.name, ""),)) if main.name in BOLD_FONTS else None
    pdf.add_font("Evidence", "B", str(bold or main))
    covered = set(pdf.fonts["evidence"].cmap)
    fallbacks = []
    for index, path in enumerate(_find_all(FALLBACK_FONTS)):
        family = f"Fallback{index}"
        pdf.add_font(family, "", str(path))
        covered |= set(pdf.fonts[family.lower()].cmap)
        fallbacks.append(family)
    if fallbacks:
        pdf.set_fallback_fonts(fallbacks, exact_match=False)
    _shape_text(pdf)
    pdf.set_font("Evidence", size=8)
    return _Fonts(pdf, "Evidence", unicode=True, covered=covered)


def _shape_text(pdf: FPDF) -> None:
    """Right-to-left order and joined letters for Arabic script, when HarfBuzz is installed (requirements.txt)."""
    try:
        pdf.set_text_shaping(True)
    except Exception:  # fpdf2 raises its own error when uharfbuzz is missing
        log.warning("uharfbuzz is not installed: right-to-left text in the evidence PDF is not shaped")


def _find(names) -> Path | None:
    found = _find_all(names)
    return found[0] if found else None


def _find_all(names) -> list[Path]:
    found = []
    for name in names:
        for folder in FONT_DIRS:
            match = next(iter(sorted(folder.rglob(name))), None) if name and folder.is_dir() else None
            if match:
                found.append(match)
                break
    return found


def _heading(pdf: FPDF, fonts: _Fonts, evidence: Evidence) -> None:
    """The record's title and subject at the top of the first page."""
    pdf.set_font(fonts.family, "B", 14)
    pdf.multi_cell(0, 8, fonts.showable(evidence.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(fonts.family, "", 9)
    for label, value in evidence.subject:
        pdf.multi_cell(0, 5, fonts.showable(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    generated = f"Generated {london(evidence.generated_at)} ({utc(evidence.generated_at)})."
    pdf.multi_cell(0, 5, f"{generated} {len(evidence.rows)} lines, oldest first.", new_x="LMARGIN", new_y="NEXT")
    if fonts.dropped:
        pdf.multi_cell(0, 5, UNSHOWN_NOTE, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _cells(fonts: _Fonts, row: Row) -> tuple[str, ...]:
    body = "\n".join(part for part in (row.text, row.detail) if part)
    return (
        f"{london(row.at)}\n{utc(row.at)}",
        fonts.showable(row.what + (f"\nVisit {row.visit}" if row.visit else "")),
        fonts.showable(row.by),
        fonts.showable(", ".join(part for part in (row.channel, row.status) if part)),
        fonts.showable(body),
    )


def _table(pdf: FPDF, fonts: _Fonts, rows: list[tuple[str, ...]]) -> None:
    pdf.set_font(fonts.family, "", 7.5)
    with pdf.table(
        col_widths=COLUMN_WIDTHS,
        text_align="LEFT",
        line_height=3.6,
        cell_fill_color=245,
        cell_fill_mode=TableCellFillMode.ROWS,
        repeat_headings=1,
    ) as table:
        for cells in [HEADINGS, *rows]:
            row = table.row()
            for text in cells:
                row.cell(text)
