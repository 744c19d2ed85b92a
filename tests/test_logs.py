"""Structured logs: JSON lines carrying message and conversation ids, and never a tenant's number or words."""

import io
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app import create_app
from service import logs
from store.db import transaction
from store.models import Message
from tests.factories import create_operative, create_tenant, create_visit, new_sid, tenant_says

TEST_LOGGER = "tests.logs"


@pytest.fixture
def log_output(monkeypatch):
    """What the app's own handler writes, as its formatter writes it (JSON unless a test says otherwise)."""
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    root = logging.getLogger()
    level = root.level
    handler = logs.configure("INFO")
    formatter = handler.formatter
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)
    handler.setFormatter(formatter)
    root.setLevel(level)


def lines(stream: io.StringIO, logger: str | None = None) -> list[dict]:
    records = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [record for record in records if logger is None or record["logger"] == logger]


def test_records_are_json_with_the_ids_of_their_context_and_their_extra_fields(log_output):
    log = logging.getLogger(TEST_LOGGER)
    with logs.context(message_id=41, conversation_id=7):
        with logs.context(visit_id=3):
            log.info("visit looked at", extra={"reminder_id": 9})
        log.warning("after the inner context", extra={"message_id": 42})
    log.info("outside any context")

    inner, after, outside = lines(log_output, TEST_LOGGER)
    assert inner["message"] == "visit looked at"
    assert inner["level"] == "INFO"
    assert inner["logger"] == TEST_LOGGER
    assert datetime.fromisoformat(inner["time"]).tzinfo is not None
    assert (inner["message_id"], inner["conversation_id"], inner["visit_id"], inner["reminder_id"]) == (41, 7, 3, 9)
    assert after["level"] == "WARNING"
    assert after["message_id"] == 42, "an id the call passed itself wins over the context's"
    assert after["conversation_id"] == 7
    assert "visit_id" not in after
    assert not {"message_id", "conversation_id", "visit_id"} & set(outside)


def test_configuring_twice_or_making_the_app_twice_adds_no_second_handler(settings, log_output):
    logs.configure("INFO")
    create_app(settings, start_worker=False)
    create_app(settings, start_worker=False)
    ours = [each for each in logging.getLogger().handlers if each.get_name() == logs.HANDLER_NAME]
    assert len(ours) == 1


def test_a_number_or_words_passed_by_mistake_are_redacted(log_output):
    log = logging.getLogger(TEST_LOGGER)
    log.info(
        "text from %s, call back on 07700 900321",
        "+447700900321",
        extra={
            "body": "Zanele next door has my key",
            "from_address": "whatsapp:+447700900321",
            "tenant_name": "Zanele Dlamini",
            "phone": "07700900321",
            "note": "she said ring 07700 900 321",
            "visit_id": 12,
            "tenant_texted": True,
        },
    )
    try:
        raise ValueError("not a number we know: +44 7700 900321")
    except ValueError:
        log.exception("could not read a number")

    written = log_output.getvalue()
    first, second = lines(log_output, TEST_LOGGER)
    assert first["message"] == "text from [redacted], call back on [redacted]"
    for key in ("body", "from_address", "tenant_name", "phone"):
        assert first[key] == "[redacted]"
    assert first["note"] == "she said ring [redacted]"
    assert (first["visit_id"], first["tenant_texted"]) == (12, True), "ids and flags are kept"
    assert second["exc_info"].endswith("ValueError: not a number we know: [redacted]")
    assert "Zanele" not in written and "next door" not in written
    assert digits_of("07700900321") not in digits_only(written)


def test_the_text_format_is_readable_and_still_redacted(log_output, monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "text")
    logs.configure("INFO")
    with logs.context(message_id=41):
        logging.getLogger(TEST_LOGGER).info("hello", extra={"phone": "+447700900321"})
    line = log_output.getvalue().strip()
    assert f"INFO {TEST_LOGGER} hello" in line
    assert "message_id=41" in line and "phone=[redacted]" in line
    assert "7700900321" not in line


@pytest.mark.parametrize(
    "text",
    ["visit A-0001 at 2026-12-10 14:00-15:00", "message 12345 of conversation 678", "HTTP 503", "SM" + "0" * 32],
)
def test_ids_times_and_sids_are_not_mistaken_for_numbers(text):
    assert logs.redact_phones(text) == text


def test_a_tenants_message_leaves_its_ids_in_the_logs_but_not_their_number_or_words(runtime, live_app, log_output):
    # An unchecked number: answered by the service itself (asked for the address), no model needed.
    phone = "+447700900654"
    create_tenant(runtime, phone=phone, name="Zanele Dlamini", verified=False)
    body = "Hi this is Zanele at 12 Larch Close LS6 2AB, ring me on 07700 900987 please"
    sid = new_sid()

    replies = tenant_says(live_app, body, phone=phone, sid=sid)
    runtime.worker.wait_idle(30)

    assert replies, "the service answered, so the message went all the way through the worker"
    message_id, conversation_id = stored(runtime, sid)
    records = lines(log_output)
    words = ["Zanele", "Larch Close", "LS6 2AB"]
    assert_ids_and_nothing_personal(log_output.getvalue(), records, message_id, conversation_id, phone, body, words)


def test_a_message_through_the_assistant_logs_its_ids_and_nothing_personal(assistant, live_app, log_output):
    phone = "+447700900655"
    tenant = create_tenant(assistant, phone=phone, name="Zanele Dlamini")
    create_operative(assistant)
    create_visit(assistant, tenant, datetime.now(timezone.utc) + timedelta(days=3))
    body = "can you do thursday afternoon instead? Zanele next door has the key, ring 07700 900987"
    sid = new_sid()

    replies = tenant_says(live_app, body, phone=phone, sid=sid)
    assistant.worker.wait_idle(30)

    assert replies
    message_id, conversation_id = stored(assistant, sid)
    records = lines(log_output)
    words = ["thursday afternoon", "Zanele", "next door", "the key"]
    assert_ids_and_nothing_personal(log_output.getvalue(), records, message_id, conversation_id, phone, body, words)


def stored(runtime, sid: str) -> tuple[int, int]:
    with transaction(runtime.sessions) as session:
        message = session.scalar(select(Message).where(Message.twilio_sid == sid))
        return message.id, message.conversation_id


def assert_ids_and_nothing_personal(written, records, message_id, conversation_id, phone, body, words) -> None:
    ours = [record for record in records if record.get("message_id") == message_id]
    by_message = {record["message"]: record for record in ours}
    # Stored in the web request, handled in a worker thread: each line carries the ids from its context.
    assert by_message["inbound message stored"]["conversation_id"] == conversation_id
    assert by_message["inbound message handled"]["logger"] == "service.messaging"
    assert str(message_id) in written

    assert digits_of(phone) not in digits_only(written)
    assert "7700900987" not in digits_only(written), "the number inside the body"
    assert body not in written
    assert all(word in body for word in words), "the test looks for words the message really has"
    leaked = [word for word in words if word.lower() in written.lower()]
    assert not leaked, f"words of the message in the logs: {leaked}"


def digits_of(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())[-10:]


def digits_only(text: str) -> str:
    # Spaces and punctuation inside a number ("07700 900 321") must not let it slip past the check.
    return "".join(ch for ch in text if ch.isdigit() or ch == "\n")


def test_ids_with_digits_in_them_are_not_taken_for_phone_numbers():
    sid = "SM41376969f07700900123e062b62c2a84"
    assert logs.redact_phones(f"message {sid} stored") == f"message {sid} stored"
    assert logs.redact_phones("call 07700 900123 now") == f"call {logs.REDACTED} now"


def test_personal_fields_are_found_in_any_spelling_and_inside_nested_values():
    assert all(logs.is_personal(key) for key in ("ProfileName", "WaId", "fromAddress", "phoneNumber", "sender"))
    assert not any(logs.is_personal(key) for key in ("message_id", "MessageSid", "tenant_texted"))
    form = {"From": "+447700900123", "NumMedia": "0", "notes": ["ring +447700900124"]}
    assert logs.redact_value(form) == {"From": logs.REDACTED, "NumMedia": "0", "notes": [f"ring {logs.REDACTED}"]}
