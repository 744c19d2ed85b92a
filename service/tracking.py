"""/track/<token>: the tenant's link from the "on my way" text. No sign-in, so it shows as little as it can.

Only the visit window and how the day is going (on the way, running late,
arrived, finished), in the tenant's language. Never the tenant's name or
address, and for discreet contact not even what the visit is for. The token is
long and random, made when the operative sets off and dropped when the visit
moves; the page is gone a couple of days after the slot. Search engines are
told not to index it and nothing may cache it.
"""

from datetime import timedelta

from flask import Blueprint, abort, current_app, make_response, render_template
from sqlalchemy import func, select

from service import adjustments, i18n, operatives
from store.db import transaction
from store.models import OPERATIVE_STATUSES, Visit, VisitEvent

tracking_bp = Blueprint("tracking", __name__, template_folder="templates")
# After this long past the slot the link shows nothing: the day is over.
KEPT_AFTER_SLOT = timedelta(days=2)
# What "last update" on the page means: the operative's reports, and our own miss.
DAY_EVENTS = (*OPERATIVE_STATUSES, "completed", operatives.NO_ACCESS_OFF_SLOT, operatives.MISSED)
HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "X-Robots-Tag": "noindex, nofollow",
    # The token is in the address: never pass it on to another site.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


@tracking_bp.get("/track/<token>")
def track(token):
    runtime = current_app.extensions["assistant"]
    now = runtime.clock()
    with transaction(runtime.sessions) as session:
        visit = session.scalar(select(Visit).where(Visit.tracking_token == token)) if token else None
        if visit is None or now > visit.slot_end + KEPT_AFTER_SLOT:
            abort(404)
        locale = i18n.normalise_locale(visit.tenant.language)
        discreet = adjustments.discreet_for(session, visit.tenant_id) is not None
        last_update = session.scalar(
            select(func.max(VisitEvent.at)).where(VisitEvent.visit_id == visit.id, VisitEvent.status.in_(DAY_EVENTS))
        )
        page = _page(visit, locale, discreet, last_update)

    response = make_response(render_template("tracking/visit.html", **page))
    response.headers.update(HEADERS)
    return response


def _page(visit: Visit, locale: str, discreet: bool, last_update) -> dict:
    visit_words = i18n.render(f"visit_type.{'discreet' if discreet else visit.visit_type}", locale)
    state = progress(visit)
    eta = i18n.format_clock(visit.eta, locale) if visit.eta else ""
    return {
        "lang": locale.replace("_", "-"),
        "direction": "rtl" if i18n.is_rtl_locale(locale) else "ltr",
        "state": state,
        "heading": i18n.render("track.heading", locale, visit=visit_words),
        "window": i18n.render("track.window", locale, slot=i18n.format_slot(visit.slot_start, visit.slot_end, locale)),
        "status": i18n.render(f"track.{state}", locale, eta=eta),
        "updated": i18n.render("track.updated", locale, time=i18n.format_clock(last_update, locale))
        if last_update
        else "",
        "reload": i18n.render("track.reload", locale),
    }


def progress(visit: Visit) -> str:
    """Where the day stands, as one of the page's texts."""
    if visit.missed_by_provider_at or visit.operative_status == "no_access":
        return "not_going_ahead"
    if visit.status == "completed":
        return "finished"
    if not visit.is_open:
        return "not_going_ahead"
    if visit.operative_status == "arrived" or (visit.operative_status in operatives.ON_THE_WAY and visit.eta):
        return visit.operative_status
    return "waiting"
