"""Engine and sessions. Nothing connects at import time."""

import logging
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        # SQLAlchemy's default PostgreSQL driver is psycopg2; we ship psycopg 3.
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "savepoint", _savepoint_inside_a_transaction)
        return engine
    # A database that is away fails fast (the webhook then keeps the message on disk) instead of
    # hanging past Twilio's 15 seconds; and no error message carries a tenant's words.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        pool_timeout=5,
        hide_parameters=True,
        # TCP keepalives and a user timeout: a connection to a server that stopped answering fails
        # in seconds instead of waiting on the kernel's defaults (minutes).
        connect_args={
            "connect_timeout": 3,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
            "tcp_user_timeout": 5000,
        },
    )


def _tune_sqlite(dbapi_connection, _record):
    # WAL lets the webhook store a message while a worker reads; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _savepoint_inside_a_transaction(connection, _name):
    # Python's sqlite3 driver begins a transaction at the first write, not before. A savepoint
    # opened before any write (a reply moving a visit: read the calendar, then write) would start a
    # transaction of its own that commits on release, and, having read first, fail at once with
    # "database is locked" when another thread wrote meanwhile. So begin the real transaction
    # here, taking the write lock first: another writer then waits its turn instead of failing.
    # Everything else is as the driver does it: reads take no lock, so they never hold up the webhook.
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN IMMEDIATE")


def create_database(admin_url: str, name: str) -> None:
    """Create a PostgreSQL database unless it exists; `admin_url` names one we may connect to."""
    from sqlalchemy import text

    with _autocommit(admin_url) as connection:
        found = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first()
        if not found:
            connection.execute(text(f'CREATE DATABASE "{name}"'))


def drop_database(admin_url: str, name: str) -> None:
    """Drop a PostgreSQL database if it exists, closing whatever is still connected to it."""
    from sqlalchemy import text

    with _autocommit(admin_url) as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _autocommit(admin_url: str):
    # CREATE and DROP DATABASE cannot run inside a transaction.
    engine = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker):
    """A session that commits on success and rolls back on any error."""
    session: Session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def upgrade_database(url: str) -> None:
    """Bring the schema to the newest Alembic revision."""
    # Alembic reports every step (and every plugin as it loads) at INFO; a command
    # line should not open with a screenful of it.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")
