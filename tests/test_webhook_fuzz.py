"""Random and malformed webhook fields: never a 500, and a signed message is always kept."""

import string

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from store.db import transaction
from store.models import Message
from tests.factories import SENDER, create_tenant, new_sid, post_signed

FIELDS = [
    "From",
    "To",
    "Body",
    "MessageSid",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "Latitude",
    "Longitude",
    "OptOutType",
    "ProfileName",
    "WaId",
    "SmsStatus",
]
junk = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)
form = st.dictionaries(st.sampled_from(FIELDS), junk, max_size=len(FIELDS))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=form, body=junk)
def test_signed_junk_is_stored_and_never_breaks_the_webhook(runtime, live_app, fields, body):
    runtime.worker.wait_idle()
    sid = new_sid()
    payload = {**fields, "From": fields.get("From", "+447700900123"), "Body": body, "MessageSid": sid}
    answer = post_signed(live_app, "/twilio/inbound", payload)
    assert answer.status_code == 200
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Message).where(Message.twilio_sid == sid)) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.binary(max_size=2000),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data"]
    ),
)
def test_unsigned_bytes_of_any_kind_get_a_clear_refusal(live_app, raw, content_type):
    answer = requests.post(
        live_app.config["LIVE_URL"] + "/twilio/inbound",
        data=raw,
        headers={"Content-Type": content_type, "X-Twilio-Signature": "x"},
        timeout=10,
    )
    assert answer.status_code in (400, 403, 413)


def test_a_valid_message_among_junk_still_gets_its_answer(runtime, live_app):
    create_tenant(runtime)
    for text in ["\x00\x01", "�" * 50, "%" * 100, string.printable]:
        assert (
            post_signed(
                live_app,
                "/twilio/inbound",
                {"From": "+447700900123", "To": SENDER, "Body": text, "MessageSid": new_sid()},
            ).status_code
            == 200
        )
    runtime.worker.wait_idle()
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Message).where(Message.direction == "inbound")) == 4
