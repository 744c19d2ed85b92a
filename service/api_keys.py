"""Keys for machine callers of /api/v1 (an operative's app, a scheduling system), each with its scopes.

A key is shown once, when it is made; only its SHA-256 is stored, so a copy of
the database cannot be used to call the API. `flask --app app create-api-key`
makes one.
"""

import hashlib
import re
import secrets

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.db import transaction
from store.models import ApiKey

# operative_status: report on the day (on my way, arrived...) and read the tenant's replies.
# hms_write: the housing management system creates and updates tenants, homes, operatives and visits.
# hms_read: the housing management system reads them back, with each visit's status and no-access case.
SCOPES = ("operative_status", "hms_write", "hms_read")
PREFIX = "taa_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,29}$")


class InvalidApiKey(ValueError):
    """A key that cannot be made as asked (bad name, unknown scope, name taken)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, name: str, scopes: list[str]) -> str:
    """Store a new key and return it: the only time it is seen."""
    name = (name or "").strip()
    if not NAME.match(name):
        raise InvalidApiKey("the name must be 1 to 30 letters, digits, spaces, dots, dashes or underscores")
    unknown = sorted(set(scopes) - set(SCOPES))
    if not scopes or unknown:
        raise InvalidApiKey(f"scopes must come from: {', '.join(SCOPES)}")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)):
        raise InvalidApiKey(f"there is already a key called {name}")

    key = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, key_sha256=hash_key(key), scopes=sorted(set(scopes)), active=True))
    return key


def key_for(session: Session, presented: str) -> ApiKey | None:
    """The active key the caller presented, if it is one of ours."""
    if not presented or not presented.startswith(PREFIX):
        return None
    return session.scalar(select(ApiKey).where(ApiKey.key_sha256 == hash_key(presented), ApiKey.active.is_(True)))


@click.command("create-api-key")
@click.option("--name", required=True, help="Who uses it, e.g. 'Scheduler' or 'Priya van 2' (shown in visit history).")
@click.option(
    "--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES), help="What it may do (repeatable)."
)
@with_appcontext
def create_api_key_command(name, scopes):
    """Make an API key for an operative's app or scheduling system, and print it once."""
    runtime = current_app.extensions["assistant"]
    try:
        with transaction(runtime.sessions) as session:
            key = create_key(session, name, list(scopes))
    except InvalidApiKey as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"API key for {name.strip()} ({', '.join(sorted(set(scopes)))}). It is shown only now; keep it safe:")
    click.echo(key)
