"""The store on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set (CI sets it)."""

import os
import threading
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from service.phones import InvalidPhoneNumber, normalise_phone
from store.db import make_engine, make_session_factory, transaction, upgrade_database
from store.models import Base, Message, Property, Tenant, Visit
from tests.databases import postgres_schema

LONDON = ZoneInfo("Europe/London")


def _database_urls():
    urls = ["sqlite"]
    if os.environ.get("TEST_DATABASE_URL"):
        urls.append("postgresql")
    return urls


@pytest.fixture(params=_database_urls())
def sessions(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade_database(url)
        yield make_session_factory(make_engine(url))
        return

    with postgres_schema(os.environ["TEST_DATABASE_URL"]) as url:
        upgrade_database(url)
        engine = make_engine(url)
        yield make_session_factory(engine)
        engine.dispose()


def test_migrations_build_every_table_the_models_declare(sessions):
    engine = sessions.kw["bind"]
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_slot_times_come_back_timezone_aware_in_utc(sessions):
    start = datetime(2024, 10, 27, 10, 0, tzinfo=LONDON)  # the day the clocks go back
    with transaction(sessions) as session:
        tenant = Tenant(name="Amara Okafor", phone="+447700900123")
        home = Property(address_line1="12 Larch Close", town="Leeds", postcode="LS6 2AB", tenant=tenant)
        session.add_all([tenant, home])
        session.flush()
        session.add(
            Visit(
                reference="A-0001",
                visit_type="gas_safety_check",
                tenant_id=tenant.id,
                property_id=home.id,
                slot_start=start,
                slot_end=start,
            )
        )
    with transaction(sessions) as session:
        stored = session.scalar(select(Visit.slot_start))
    assert stored.tzinfo is not None
    assert stored == start
    assert stored.astimezone(timezone.utc).hour == 10  # GMT again on 27 October


def _inbound(sid: str) -> Message:
    return Message(
        direction="inbound",
        channel="sms",
        from_address="+447700900123",
        to_address="+441632960001",
        body="yes",
        twilio_sid=sid,
        status="received",
        state="received",
    )


def test_a_message_sid_can_be_stored_only_once(sessions):
    with transaction(sessions) as session:
        session.add(_inbound("SM0001"))
    with pytest.raises(IntegrityError):
        with transaction(sessions) as session:
            session.add(_inbound("SM0001"))


def test_emoji_and_any_script_are_stored_byte_identical(sessions):
    bodies = ["👍🏽", "ok 👍", "تمام", "Tak, dziękuję", "ਹਾਂ ਜੀ", "✅"]
    with transaction(sessions) as session:
        for index, body in enumerate(bodies):
            session.add(
                Message(
                    direction="inbound",
                    channel="sms",
                    from_address="+447700900123",
                    to_address="+441632960001",
                    body=body,
                    twilio_sid=f"SM{index}",
                    status="received",
                    state="received",
                )
            )
    with transaction(sessions) as session:
        stored = session.scalars(select(Message.body).order_by(Message.id)).all()
    assert [b.encode("utf-8") for b in stored] == [b.encode("utf-8") for b in bodies]


def test_a_savepoint_that_reads_then_writes_survives_a_write_from_elsewhere(sessions):
    # The shape of a tenant's reply moving a visit (a savepoint that reads the calendar, then
    # writes) while a delivery report is stored from another thread. On SQLite a savepoint opened
    # before any write used to start a deferred transaction, and its write after the other commit
    # failed at once with "database is locked".
    turn_has_read, report_stored = threading.Event(), threading.Event()
    errors = []

    def reply_moving_a_visit():
        try:
            with transaction(sessions) as session:
                session.scalar(select(func.count(Message.id)))
                with session.begin_nested():
                    session.scalar(select(func.count(Message.id)))
                    turn_has_read.set()
                    # The report is stored now, or waits for this transaction if the database says so.
                    report_stored.wait(timeout=1)
                    session.add(_inbound("SM-reply"))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    def delivery_report():
        try:
            turn_has_read.wait(timeout=5)
            with transaction(sessions) as session:
                session.add(_inbound("SM-report"))
            report_stored.set()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=reply_moving_a_visit), threading.Thread(target=delivery_report)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    with transaction(sessions) as session:
        stored = set(session.scalars(select(Message.twilio_sid)))
    assert stored == {"SM-reply", "SM-report"}


def test_a_savepoint_does_not_commit_on_its_own(sessions):
    # A savepoint released before any other write must stay part of its transaction: when the
    # transaction rolls back, what the savepoint wrote goes too.
    with pytest.raises(RuntimeError):
        with transaction(sessions) as session:
            session.scalar(select(func.count(Message.id)))
            with session.begin_nested():
                session.add(_inbound("SM-inside"))
            session.add(_inbound("SM-after"))
            session.flush()
            raise RuntimeError("the turn failed")

    with transaction(sessions) as session:
        assert session.scalars(select(Message.twilio_sid)).all() == []


@pytest.mark.parametrize(
    "written",
    [
        "07700 900123",
        "07700900123",
        "+44 7700 900123",
        "447700900123",
        "0044 7700 900123",
        "(07700) 900-123",
        "whatsapp:+447700900123",
    ],
)
def test_any_uk_way_of_writing_a_mobile_becomes_e164(written):
    assert normalise_phone(written) == "+447700900123"


@pytest.mark.parametrize("junk", ["", "hello", "123", "+44 1"])
def test_junk_is_not_taken_for_a_phone_number(junk):
    with pytest.raises(InvalidPhoneNumber):
        normalise_phone(junk)


def test_the_migrations_match_the_models_exactly(sessions):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = sessions.kw["bind"]
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_the_migrations_have_a_single_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from store.db import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
