"""The console's blueprint, and the rule that every console route names who may use it.

A route says who may use it with `@public` or `@requires_role(...)`. The check
runs before every console request and fails closed: a route that forgot to say
is refused to everyone, so a new page can never be open by accident.
"""

import logging
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, g, redirect, request, session, url_for

from store.db import transaction
from store.models import OFFICER_ROLES, Officer

log = logging.getLogger(__name__)

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")

PUBLIC = "public"
# Every role works conversations, but safeguarding cases only safeguarding officers (see access.py);
# narrower routes (the audit trail) name their own roles.
CONVERSATION_ROLES = OFFICER_ROLES
ADMIN_ROLES = ("admin",)


@dataclass(frozen=True)
class SignedIn:
    """The officer behind the current request, copied out of the database session."""

    id: int
    name: str
    email: str
    role: str

    @property
    def actor(self) -> str:
        # How visit history names who made a change.
        return f"officer:{self.id}"


def public(view):
    view.console_access = PUBLIC
    return view


def requires_role(*roles: str):
    """Let only signed-in, active officers holding one of `roles` use the decorated route."""
    unknown = sorted(set(roles) - set(OFFICER_ROLES))
    if not roles or unknown:
        raise ValueError(f"requires_role needs roles from {OFFICER_ROLES}; got {roles!r}.")

    def mark(view):
        view.console_access = frozenset(roles)
        return view

    return mark


MAX_ROW_ID = 2**53


def runtime():
    return current_app.extensions["assistant"]


def current_officer() -> SignedIn:
    return g.officer


@bp.before_request
def check_access():
    if request.endpoint == "console.static":
        return None
    if any(isinstance(value, int) and value > MAX_ROW_ID for value in (request.view_args or {}).values()):
        abort(404)  # no row has an id that size; the database would refuse to compare it
    access = getattr(current_app.view_functions.get(request.endpoint), "console_access", None)
    if access == PUBLIC:
        return None

    g.officer = _signed_in_officer()
    if g.officer is None:
        wanted = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("console.sign_in", next=wanted))

    if access is None or g.officer.role not in access:
        log.warning("console access refused", extra={"officer_id": g.officer.id, "endpoint": request.endpoint})
        abort(403)
    return None


def _signed_in_officer() -> SignedIn | None:
    officer_id = session.get("officer_id")
    if not isinstance(officer_id, int):
        return None
    signed_in_at = session.get("signed_in_at")
    with transaction(runtime().sessions) as db:
        officer = db.get(Officer, officer_id)
        ended = (
            officer is not None
            and officer.sessions_valid_from is not None
            and (not isinstance(signed_in_at, (int, float)) or signed_in_at <= officer.sessions_valid_from.timestamp())
        )
        if officer is None or not officer.active or ended:
            # Deactivating an officer ends their sessions at their next click.
            session.clear()
            return None
        return SignedIn(id=officer.id, name=officer.name, email=officer.email, role=officer.role)


@bp.after_request
def protect_pages(response):
    """No framing by other sites, no type sniffing, no caching of tenants' details."""
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
