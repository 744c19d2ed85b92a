"""Officer accounts: creating them and checking a password at sign-in."""

from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from service.console import audit
from store.db import transaction
from store.models import OFFICER_ROLES, Officer

MIN_PASSWORD_LENGTH = 12


class InvalidOfficer(ValueError):
    """The details given for a new officer cannot be used; the message lists every problem."""


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def create_officer(sessions: sessionmaker, email: str, name: str, role: str, password: str, now) -> Officer:
    """Store a new officer with a hashed password. Raises InvalidOfficer listing every problem at once."""
    email, name = normalise_email(email), (name or "").strip()
    problems = []
    if "@" not in email or len(email) > 254:
        problems.append("the email address does not look right")
    if not name:
        problems.append("the name is empty")
    if role not in OFFICER_ROLES:
        problems.append(f"the role must be one of {', '.join(OFFICER_ROLES)}")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        problems.append(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")

    with transaction(sessions) as session:
        if email and session.scalar(select(Officer.id).where(Officer.email == email)):
            problems.append("an officer with this email address already exists")
        if problems:
            raise InvalidOfficer("Cannot create the officer: " + "; ".join(problems) + ".")
        officer = Officer(email=email, name=name, role=role, password_hash=generate_password_hash(password))
        session.add(officer)
        session.flush()
        audit.record(session, officer.id, "officer_created", now, detail={"role": role, "by": "command line"})
    return officer


def authenticate(sessions: sessionmaker, email: str, password: str) -> Officer | None:
    """The active officer with this email and password, or None."""
    with transaction(sessions) as session:
        officer = session.scalar(select(Officer).where(Officer.email == normalise_email(email)))
    # Hash even for an unknown address, so the answer's timing does not say which emails exist.
    stored_hash = officer.password_hash if officer else _hash_of_nothing()
    if not check_password_hash(stored_hash, password or ""):
        return None
    if officer is None or not officer.active:
        return None
    return officer


@lru_cache(maxsize=1)
def _hash_of_nothing() -> str:
    return generate_password_hash("no officer has this password")
