"""Logs: one JSON object a line on stderr, carrying the ids of the work in hand and no personal data.

`configure(level)` sets up the root logger once per process (again is harmless). LOG_FORMAT=text
gives plain lines for reading in a terminal. Inside `with context(message_id=...)` every record
carries those ids, however deep the call that logs it, so one message's story can be followed by
its id alone. Tenants' numbers, words, names and addresses must not reach the logs: the ids are
enough to find them in the database, where access is controlled and erasure works.
"""

import contextvars
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

import phonenumbers
from pythonjsonlogger.json import JsonFormatter

HANDLER_NAME = "service.logs"
REDACTED = "[redacted]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Field names that carry a tenant's words or whereabouts, matched on each part of a key ("from_address").
PERSONAL_KEYS = {"body", "text", "phone", "mobile", "from", "to", "address", "postcode", "name", "email"}
PERSONAL_KEYS |= {"sender", "recipient", "msisdn", "profilename", "waid", "phonenumber", "caption"}
# A key's words, whether snake_case, camelCase or Twilio's own PascalCase ("ProfileName", "WaId").
KEY_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# A LogRecord's own attributes (logger name, file, line...): never `extra=` fields, so never redacted.
RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Seven digits or more, maybe spaced: a cheap test so most lines never reach the phone-number matcher.
DIGITS = re.compile(r"\d(?:[\s().-]{0,2}\d){6,}")

# The ids of the work in hand, per thread and per task; a new mapping each time, never changed in place.
_ids: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar("log_ids", default=MappingProxyType({}))


def configure(level: str | int = "INFO") -> logging.Handler:
    """Log to stderr as JSON (or text, with LOG_FORMAT=text); calling it again adds no second handler."""
    root = logging.getLogger()
    handler = next((each for each in root.handlers if each.get_name() == HANDLER_NAME), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(HANDLER_NAME)
        # Context first, so ids put in a context are checked by the redaction as well.
        handler.addFilter(ContextFilter())
        handler.addFilter(RedactFilter())
        root.addHandler(handler)
    if os.environ.get("LOG_FORMAT", "json").strip().lower() == "text":
        handler.setFormatter(TextLines(TEXT_FORMAT))
    else:
        handler.setFormatter(
            JsonLines(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",
            )
        )
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


@contextmanager
def context(**ids) -> Iterator[None]:
    """Add these ids (message_id, conversation_id, visit_id, job...) to every record logged inside."""
    token = _ids.set({**_ids.get(), **{key: value for key, value in ids.items() if value is not None}})
    try:
        yield
    finally:
        _ids.reset(token)


def redact_phones(text: str) -> str:
    """Anything in *text* that looks like a phone number, UK or E.164, replaced by [redacted]."""
    if not DIGITS.search(text):
        return text
    # POSSIBLE, not VALID: Ofcom's drama range (07700 900xxx) and new ranges are not "valid" to libphonenumber.
    matches = phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.POSSIBLE)
    for match in reversed(list(matches)):
        # Digits inside a word are part of an id (a Twilio SID, a hash), not a number someone dials.
        inside_word = (match.start > 0 and text[match.start - 1].isalnum()) or (
            match.end < len(text) and text[match.end].isalnum()
        )
        # Short "possible" numbers are ids and counts; a real number has ten digits or more, or is valid.
        real = phonenumbers.is_valid_number(match.number) or len(str(match.number.national_number)) >= 10
        if real and not inside_word:
            text = text[: match.start] + REDACTED + text[match.end :]
    return text


def is_personal(key: str) -> bool:
    words = [word.lower() for word in KEY_WORDS.findall(key)]
    return "".join(words) in PERSONAL_KEYS or any(word in PERSONAL_KEYS for word in words)


def redact_value(value):
    """A field's value with numbers taken out of its text, looking inside dicts and lists too."""
    if isinstance(value, str):
        return redact_phones(value)
    if isinstance(value, dict):
        return {key: REDACTED if is_personal(str(key)) else redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item) for item in value]
    return value


class ContextFilter(logging.Filter):
    """Adds the ids of the enclosing `context()`; a field the call passed itself wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _ids.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class RedactFilter(logging.Filter):
    """Redacts personal fields passed in `extra=` by mistake, and phone numbers anywhere in the text."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(vars(record).items()):
            if key in RECORD_ATTRIBUTES or key.startswith("_"):
                continue
            if is_personal(key):
                setattr(record, key, REDACTED)
            else:
                setattr(record, key, redact_value(value))
        try:
            message = record.getMessage()
        except Exception:
            # A broken call would otherwise print its arguments, unredacted, in logging's error report.
            message = f"unformattable log message: {record.msg}"
        cleaned = redact_phones(message)
        if cleaned != record.msg or record.args:
            record.msg, record.args = cleaned, None
        return True


class RedactedTracebacks:
    """An exception's text can quote its input: numbers are taken out of tracebacks too."""

    def formatException(self, ei) -> str:
        return redact_phones(super().formatException(ei))


class JsonLines(RedactedTracebacks, JsonFormatter):
    pass


class TextLines(RedactedTracebacks, logging.Formatter):
    """Plain lines for a terminal, with the ids and other fields after the message."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = {key: value for key, value in vars(record).items() if key not in RECORD_ATTRIBUTES}
        extra = " ".join(f"{key}={value}" for key, value in fields.items() if not key.startswith("_"))
        return super().formatMessage(record) + (f" [{extra}]" if extra else "")
