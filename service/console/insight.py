"""Insight pages for the specialist team and admins: rates, reasons, misses, certificates at risk, contact data.

The numbers are counted in the database (service/insight.py). Charts are SVG
drawn on the server by matplotlib (its Figure API, safe in threads; no pyplot):
the page loads no JavaScript from anywhere. Every table downloads as CSV (UTF-8 with a byte-order
mark, like the evidence records), and each download is in the audit trail,
because some tables name tenants.
"""

import io
import logging

from flask import Response, abort, render_template
from markupsafe import Markup

from service import insight
from service.console import audit
from service.console.blueprint import bp, current_officer, requires_role, runtime
from store.db import transaction

log = logging.getLogger(__name__)

INSIGHT_ROLES = ("specialist", "admin")
# The console's own colours (console.css).
COLOURS = ("#1f5f8b", "#6a9f3a", "#c47f17", "#b3261e")


@bp.get("/insight")
@requires_role(*INSIGHT_ROLES)
def insight_page():
    """Every insight table, with a chart where the numbers compare."""
    with transaction(runtime().sessions) as session:
        tables = insight.all_tables(session, current_officer().role, runtime().clock())
    charts = {table.key: chart_svg(table) for table in tables if table.chart and table.rows}
    return render_template("console/insight.html", tables=tables, charts=charts)


@bp.get("/insight/<key>.csv")
@requires_role(*INSIGHT_ROLES)
def insight_csv(key: str):
    """One table as CSV; the download is audited."""
    officer, now = current_officer(), runtime().clock()
    with transaction(runtime().sessions) as session:
        table = next((table for table in insight.all_tables(session, officer.role, now) if table.key == key), None)
        if table is None:
            abort(404)
        audit.record(session, officer.id, "downloaded_insight", now, detail={"table": key})
    log.info("insight downloaded", extra={"officer_id": officer.id, "table": key})
    response = Response(insight.to_csv(table).encode("utf-8-sig"), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{key}.csv"'
    return response


def chart_svg(table: "insight.Table") -> Markup:
    """The table's charted columns as grouped bars against its first column, as inline SVG."""
    rows = [row for row in table.rows if isinstance(row[1], int | float) and row[0] != "average"]
    labels = [str(row[0]) for row in rows]
    # Imported here: matplotlib is heavy, and only these pages need it (start-up and memory stay small).
    import matplotlib
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.6, 3.0))
    axes = figure.add_subplot()
    width = 0.8 / len(table.chart)
    for number, name in enumerate(table.chart):
        index = table.columns.index(name)
        positions = [place + number * width for place in range(len(rows))]
        axes.bar(positions, [row[index] for row in rows], width=width, label=name, color=COLOURS[number % len(COLOURS)])
    axes.set_xticks([place + width * (len(table.chart) - 1) / 2 for place in range(len(rows))], labels)
    axes.tick_params(axis="x", labelrotation=20 if len(rows) > 4 else 0)
    if table.percent:
        axes.set_ylim(0, 100)
    axes.spines[["top", "right"]].set_visible(False)
    if len(table.chart) > 1:
        # Above the bars, so a bar at 100% is never hidden behind it.
        above = {"loc": "lower center", "bbox_to_anchor": (0.5, 1.0), "ncols": len(table.chart)}
        axes.legend(frameon=False, fontsize="small", **above)
    figure.tight_layout()

    buffer = io.StringIO()
    # Text stays text (no font outlines); the salt keeps each chart's clip ids apart on one page.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": table.key}):
        figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return Markup(svg[svg.index("<svg") :])
