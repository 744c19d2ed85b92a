"""Signing in to the console and out of it."""

import logging
from urllib.parse import urlsplit

from flask import redirect, render_template, request, session, url_for

from service.console import audit
from service.console.accounts import authenticate
from service.console.blueprint import CONVERSATION_ROLES, bp, current_officer, public, requires_role, runtime
from store.db import transaction

log = logging.getLogger(__name__)


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    """The sign-in form; the right email and password start a console session."""
    if request.method == "GET":
        return render_template("console/sign_in.html", next=_safe_next(request.args.get("next")))

    email = request.form.get("email", "")
    officer = authenticate(runtime().sessions, email, request.form.get("password", ""))
    if officer is None:
        log.info("console sign-in refused")
        page = render_template(
            "console/sign_in.html", next=_safe_next(request.form.get("next")), email=email, refused=True
        )
        return page, 401

    # A fresh session, so nothing set before sign-in carries over into it.
    session.clear()
    session["officer_id"] = officer.id
    with transaction(runtime().sessions) as db:
        audit.record(db, officer.id, "signed_in", runtime().clock())
    log.info("officer signed in", extra={"officer_id": officer.id})
    return redirect(_safe_next(request.form.get("next")) or url_for("console.queue"))


@bp.post("/sign-out")
@requires_role(*CONVERSATION_ROLES)
def sign_out():
    officer = current_officer()
    with transaction(runtime().sessions) as db:
        audit.record(db, officer.id, "signed_out", runtime().clock())
    session.clear()
    return redirect(url_for("console.sign_in"))


def _safe_next(target: str | None) -> str | None:
    """Only a console page on this site: a sign-in link must not send an officer anywhere else."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not parts.path.startswith("/console/"):
        return None
    return target
