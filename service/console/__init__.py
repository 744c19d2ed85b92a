"""The officers' web console at /console: the queue, conversations, replies and quick actions.

Server-rendered pages with plain CSS and no scripts from anywhere else. Every
route names the roles that may use it (see blueprint.py), every form carries a
CSRF token, and everything an officer does is written to the audit trail.
"""

from flask import Blueprint, Flask
from flask_wtf.csrf import CSRFProtect

from service.console import (  # noqa: F401  (each registers its routes on bp)
    actions,
    auth,
    cases,
    display,
    imports,
    insight,
    tasks,
    tenant_actions,
    views,
)
from service.console.blueprint import bp as console_bp
from service.console.cli import create_officer_command

__all__ = ["console_bp", "create_officer_command", "protect_forms"]


def protect_forms(app: Flask, exempt: list[Blueprint], secure_cookies: bool) -> CSRFProtect:
    """Require a CSRF token on every POST, except on `exempt` blueprints that authenticate each request.

    The session cookie is sent by the browser on its own, so a form on another site
    could otherwise act as a signed-in officer. Twilio's webhooks and the action
    server's callback carry their own signature or token instead of a cookie.
    `secure_cookies` keeps the session cookie to HTTPS, for a console served behind TLS.
    """
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 12 * 60 * 60)  # a long shift with the page left open
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure_cookies)
    csrf = CSRFProtect(app)
    for blueprint in exempt:
        csrf.exempt(blueprint)
    return csrf
