"""CSV that is safe to open in a spreadsheet.

Exports carry tenants' own words, names from the housing system and officers'
notes. A cell that starts with = + - @ (or a tab or carriage return) is run as a
formula by Excel and friends, which can send data elsewhere; such a cell is
written as text instead.
"""

import csv
import io

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def csv_text(columns, rows) -> str:
    """A CSV document (CRLF line ends, as spreadsheets expect) with every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(column) for column in columns])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()
