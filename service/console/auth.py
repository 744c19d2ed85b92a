"""Signing in to the console and out of it."""

import logging
import threading
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import redirect, render_template, request, session, url_for

from service.console import audit
from service.console.accounts import authenticate
from service.console.blueprint import CONVERSATION_ROLES, bp, current_officer, public, requires_role, runtime
from store.db import transaction
from store.models import Officer

log = logging.getLogger(__name__)


class SignInThrottle:
    """At most five wrong passwords for one email in fifteen minutes (per web process)."""

    LIMIT, WINDOW = 5, timedelta(minutes=15)

    def __init__(self):
        self._failures: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()

    def failed(self, email: str, now: datetime) -> None:
        with self._lock:
            self._failures.setdefault(email.strip().lower(), []).append(now)

    def blocked(self, email: str, now: datetime) -> bool:
        with self._lock:
            recent = [at for at in self._failures.get(email.strip().lower(), []) if now - at < self.WINDOW]
            self._failures[email.strip().lower()] = recent
            return len(recent) >= self.LIMIT

    def forget(self) -> None:
        with self._lock:
            self._failures.clear()


throttle = SignInThrottle()


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    """The sign-in form; the right email and password start a console session."""
    if request.method == "GET":
        return render_template("console/sign_in.html", next=_safe_next(request.args.get("next")))

    email = request.form.get("email", "")
    if throttle.blocked(email, runtime().clock()):
        log.warning("console sign-in throttled")
        page = render_template("console/sign_in.html", next=None, email=email, refused=True)
        return page, 429
    officer = authenticate(runtime().sessions, email, request.form.get("password", ""))
    if officer is None:
        throttle.failed(email, runtime().clock())
        log.info("console sign-in refused")
        page = render_template(
            "console/sign_in.html", next=_safe_next(request.form.get("next")), email=email, refused=True
        )
        return page, 401

    # A fresh session, so nothing set before sign-in carries over into it.
    session.clear()
    session["officer_id"] = officer.id
    session["signed_in_at"] = runtime().clock().timestamp()
    with transaction(runtime().sessions) as db:
        audit.record(db, officer.id, "signed_in", runtime().clock())
    log.info("officer signed in", extra={"officer_id": officer.id})
    return redirect(_safe_next(request.form.get("next")) or url_for("console.queue"))


@bp.post("/sign-out")
@requires_role(*CONVERSATION_ROLES)
def sign_out():
    officer = current_officer()
    with transaction(runtime().sessions) as db:
        # The session lives in a signed cookie: mark every session signed in before now as ended,
        # so a copy of the cookie is worthless too.
        db.get(Officer, officer.id).sessions_valid_from = runtime().clock()
        audit.record(db, officer.id, "signed_out", runtime().clock())
    session.clear()
    return redirect(url_for("console.sign_in"))


def _safe_next(target: str | None) -> str | None:
    """Only a console page on this site: a sign-in link must not send an officer anywhere else."""
    if not target:
        return None
    parts = urlsplit(target)
    unsafe = any(ord(ch) < 32 or ord(ch) == 127 for ch in target)  # a header must never carry a line break
    if unsafe or parts.scheme or parts.netloc or "\\" in target or not parts.path.startswith("/console/"):
        return None
    return target
