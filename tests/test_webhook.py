"""The Twilio webhooks: signatures, storing first, duplicates, and messages that need no NLU."""

import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from service import messaging
from store.db import transaction
from store.models import Message, OfficerTask, Tenant
from tests.factories import (
    SENDER,
    create_tenant,
    new_sid,
    post_signed,
    replies_to,
    sent_to,
    sign,
    tenant_says,
)


def count(runtime, model, *where):
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_unsigned_inbound_is_refused_and_nothing_is_stored(runtime, live_app):
    form = {"From": "+447700900123", "To": SENDER, "Body": "cancel my appointment", "MessageSid": new_sid()}
    answer = requests.post(live_app.config["LIVE_URL"] + "/twilio/inbound", data=form, timeout=5)
    assert answer.status_code == 403
    assert count(runtime, Message) == 0


def test_unsigned_status_callback_changes_nothing(runtime, live_app, simulator):
    create_tenant(runtime)
    tenant_says(live_app, "", phone="+447700900123")
    with transaction(runtime.sessions) as session:
        reply = session.scalar(select(Message).where(Message.direction == "outbound"))
    time.sleep(0.2)
    form = {"MessageSid": reply.twilio_sid, "MessageStatus": "failed", "ErrorCode": "30003"}
    answer = requests.post(live_app.config["LIVE_URL"] + "/twilio/status", data=form, timeout=5)
    assert answer.status_code == 403
    with transaction(runtime.sessions) as session:
        assert session.get(Message, reply.id).status != "failed"


def test_body_changed_after_signing_is_refused(runtime, live_app):
    url = live_app.config["LIVE_URL"] + "/twilio/inbound"
    form = {"From": "+447700900123", "To": SENDER, "Body": "yes", "MessageSid": new_sid()}
    signature = sign(runtime, url, form)
    tampered = dict(form, Body="cancel")
    answer = requests.post(url, data=tampered, headers={"X-Twilio-Signature": signature}, timeout=5)
    assert answer.status_code == 403
    assert count(runtime, Message) == 0


def test_signature_behind_a_tls_proxy_is_checked_against_the_public_url(runtime, live_app):
    runtime.settings.public_url = "https://bot.example.org"
    try:
        create_tenant(runtime)
        form = {"From": "+447700900123", "To": SENDER, "Body": "", "MessageSid": new_sid()}
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bot.example.org"}
        good = post_signed(
            live_app, "/twilio/inbound", form, headers, sign_url="https://bot.example.org/twilio/inbound"
        )
        tampered = dict(form, MessageSid=new_sid())
        signature = sign(runtime, "https://bot.example.org/twilio/inbound", form)
        bad = requests.post(
            live_app.config["LIVE_URL"] + "/twilio/inbound",
            data=dict(tampered, Body="cancel"),
            headers={"X-Twilio-Signature": signature, **headers},
            timeout=5,
        )
    finally:
        runtime.settings.public_url = ""
    assert good.status_code == 200
    assert bad.status_code == 403
    assert count(runtime, Message, Message.direction == "inbound") == 1


def test_forwarded_headers_are_ignored_unless_the_proxy_is_trusted(runtime, live_app):
    form = {"From": "+447700900123", "To": SENDER, "Body": "", "MessageSid": new_sid()}
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bot.example.org"}
    untrusted = post_signed(
        live_app, "/twilio/inbound", form, headers, sign_url="https://bot.example.org/twilio/inbound"
    )
    assert untrusted.status_code == 403

    runtime.settings.trust_proxy_headers = True
    try:
        trusted = post_signed(
            live_app, "/twilio/inbound", form, headers, sign_url="https://bot.example.org/twilio/inbound"
        )
    finally:
        runtime.settings.trust_proxy_headers = False
    assert trusted.status_code == 200


def test_a_webhook_delivered_twice_at_once_is_handled_once(runtime, live_app, simulator):
    create_tenant(runtime)
    sid = new_sid()
    form = {"From": "+447700900123", "To": SENDER, "Body": "", "MessageSid": sid, "NumMedia": "0"}
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(post_signed(live_app, "/twilio/inbound", form)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    replies_to(live_app, sid)
    again = post_signed(live_app, "/twilio/inbound", form)

    assert [a.status_code for a in answers] == [200, 200] and again.status_code == 200
    assert all("<Response/>" in a.text for a in answers + [again])
    assert count(runtime, Message, Message.twilio_sid == sid) == 1
    runtime.worker.wait_idle()
    assert len(sent_to(simulator, "+447700900123")) == 1


def test_unknown_number_learns_nothing_about_any_visit(runtime, live_app, simulator):
    create_tenant(runtime, phone="+447700900456")
    replies = tenant_says(live_app, "when is my gas check", phone="+447700900999")
    assert len(replies) == 1
    assert "cannot find this number" in replies[0]
    assert "gas" not in replies[0].lower()
    # A second message the same day is stored but not answered again.
    assert tenant_says(live_app, "hello?", phone="+447700900999") == []
    assert count(runtime, Message, Message.direction == "inbound") == 2


def test_photo_is_kept_acknowledged_and_passed_to_an_officer(runtime, live_app):
    create_tenant(runtime)
    replies = tenant_says(
        live_app,
        "",
        channel="whatsapp",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/fake/ME01",
        MediaContentType0="image/jpeg",
    )
    assert replies == ["Thank you, we got your photo. We have added it to your record for our team to see."]
    with transaction(runtime.sessions) as session:
        inbound = session.scalar(select(Message).where(Message.direction == "inbound"))
        assert inbound.media == [{"url": "https://api.twilio.com/fake/ME01", "type": "image/jpeg"}]
        assert session.scalar(select(OfficerTask.kind)) == "media_received"


def test_whatsapp_reply_goes_back_on_whatsapp_and_sms_on_sms(runtime, live_app, simulator):
    create_tenant(runtime, phone="+447700900123")
    tenant_says(live_app, "", channel="whatsapp")
    tenant_says(live_app, "", channel="sms")
    runtime.worker.wait_idle()
    whatsapp = sent_to(simulator, "whatsapp:+447700900123")
    sms = sent_to(simulator, "+447700900123")
    assert len(whatsapp) == 1 and whatsapp[0]["from"] == f"whatsapp:{SENDER}"
    assert len(sms) == 1 and sms[0]["from"] == SENDER


def test_voice_note_gets_a_text_please_reply(runtime, live_app):
    create_tenant(runtime)
    replies = tenant_says(
        live_app,
        "",
        channel="whatsapp",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/fake/ME02",
        MediaContentType0="audio/ogg",
    )
    assert "cannot listen to voice messages" in replies[0]


def test_location_share_is_acknowledged(runtime, live_app):
    create_tenant(runtime)
    replies = tenant_says(live_app, "", Latitude="51.5007", Longitude="-0.1246")
    assert "location" in replies[0]


def test_missing_body_gets_a_kind_answer_and_is_kept(runtime, live_app):
    create_tenant(runtime)
    replies = tenant_says(live_app, None)
    assert "arrived empty" in replies[0]
    assert count(runtime, Message, Message.direction == "inbound") == 1


def test_status_callbacks_never_move_a_status_backwards(runtime, live_app, simulator):
    create_tenant(runtime)
    tenant_says(live_app, "")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with transaction(runtime.sessions) as session:
            reply = session.scalar(select(Message).where(Message.direction == "outbound"))
        if reply.status == "delivered":
            break
        time.sleep(0.05)
    assert reply.status == "delivered"
    late = post_signed(live_app, "/twilio/status", {"MessageSid": reply.twilio_sid, "MessageStatus": "sent"})
    assert late.status_code == 200
    with transaction(runtime.sessions) as session:
        assert session.get(Message, reply.id).status == "delivered"


def test_stop_keyword_records_the_opt_out_without_a_bot_reply(runtime, live_app):
    create_tenant(runtime)
    assert tenant_says(live_app, "STOP", OptOutType="STOP") == []
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(Tenant.sms_opted_out)) is True
    assert tenant_says(live_app, "START", OptOutType="START") == []
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(Tenant.sms_opted_out)) is False


def test_when_rasa_cannot_answer_the_tenant_hears_a_person_will_reply(runtime, live_app):
    from service.rasa_client import RasaClient

    create_tenant(runtime)
    working, runtime.rasa = runtime.rasa, RasaClient("http://127.0.0.1:9", timeout=1)
    runtime.rasa_wait_seconds = 0.5
    try:
        replies = tenant_says(live_app, "can I rebook for thursday")
    finally:
        runtime.rasa, runtime.rasa_wait_seconds = working, 90.0
    assert replies == ["Thank you, we have your message. A member of our team will reply soon."]
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(OfficerTask.kind)) == "assistant_unavailable"
        assert session.scalar(select(Message.state).where(Message.direction == "inbound")) == "answered"


def test_start_after_a_worded_opt_out_turns_texts_back_on(runtime, live_app):
    create_tenant(runtime)
    with transaction(runtime.sessions) as session:
        session.scalar(select(Tenant)).sms_opted_out = True
    assert tenant_says(live_app, "start") == ["Thank you. You will get our texts again."]
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(Tenant.sms_opted_out)) is False


def test_asking_for_a_language_switches_and_remembers_it(runtime, live_app):
    create_tenant(runtime)
    tenant_says(live_app, "po polsku")
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(Tenant.language)) == "pl"


def test_ready_says_no_until_the_model_answers_but_health_reports_each_part(runtime, live_app):
    from service.rasa_client import RasaClient

    working, runtime.rasa = runtime.rasa, RasaClient("http://127.0.0.1:9", timeout=1)
    try:
        ready = requests.get(live_app.config["LIVE_URL"] + "/ready", timeout=5)
        health = requests.get(live_app.config["LIVE_URL"] + "/health", timeout=5)
    finally:
        runtime.rasa = working
    assert ready.status_code == 503
    assert health.status_code == 200
    assert health.json() == {"database": "ok", "rasa": "starting", "twilio": "simulator"}


def test_health_tells_a_model_still_loading_from_rasa_gone_away(assistant, live_app):
    from service.rasa_client import RasaClient

    working = assistant.rasa
    assistant.rasa = RasaClient(working.base_urls)
    try:
        first = requests.get(live_app.config["LIVE_URL"] + "/health", timeout=5).json()["rasa"]
        assistant.rasa.base_urls = ["http://127.0.0.1:9"]  # the Rasa server stopped
        later = requests.get(live_app.config["LIVE_URL"] + "/health", timeout=5).json()["rasa"]
    finally:
        assistant.rasa = working
    assert (first, later) == ("ok", "unavailable")


@pytest.mark.parametrize("text", ["/affirm", "/ /affirm", "/\n/affirm", "/\u00a0/restart", "  //affirm{}"])
def test_no_leading_slash_ever_reaches_rasa(text):
    from service.messaging import clean_text

    assert not clean_text(text).startswith("/")


def test_a_photo_with_words_gets_both_thanked_and_answered(runtime, live_app):
    from service.messaging import answer_turn

    create_tenant(runtime)
    message, _ = messaging.store_inbound(
        runtime,
        {
            "From": "+447700900123",
            "To": SENDER,
            "Body": "please cancel my visit",
            "MessageSid": new_sid(),
            "NumMedia": "1",
            "MediaUrl0": "https://api.twilio.com/fake/ME03",
            "MediaContentType0": "image/jpeg",
        },
    )
    assert messaging._answer_without_rasa(runtime, message.id) is False  # the words still need the model
    assert answer_turn(runtime, message.conversation_id, message.id, "action_cancel", "cancel", 0.95)
    with transaction(runtime.sessions) as session:
        reply = session.scalar(select(Message.body).where(Message.reply_to_id == message.id))
    assert reply.startswith("Thank you, we got your photo")


def test_a_media_count_with_nothing_behind_it_is_not_a_photo(runtime):
    message, _ = messaging.store_inbound(
        runtime,
        {"From": "+447700900123", "To": SENDER, "Body": "when is my visit", "MessageSid": new_sid(), "NumMedia": "999"},
    )
    assert message.media == []


def test_a_form_with_an_invalid_byte_is_kept_not_emptied(runtime, live_app):
    url = live_app.config["LIVE_URL"] + "/twilio/inbound"
    sid = new_sid()
    form = {"From": "+447700900123", "To": SENDER, "Body": "raw\ufffd\ufffdbytes", "MessageSid": sid}
    signature = sign(runtime, url, form)
    raw = f"From=%2B447700900123&To=%2B441632960001&MessageSid={sid}&Body=raw".encode() + b"\xff\xfe" + b"bytes"
    answer = requests.post(
        url,
        data=raw,
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert answer.status_code == 200
    with transaction(runtime.sessions) as session:
        stored = session.scalar(select(Message).where(Message.twilio_sid == sid))
    assert stored.body == "raw\ufffd\ufffdbytes" and stored.from_address == "+447700900123"


@pytest.mark.parametrize(
    "body",
    [
        [1, 2, 3],
        "hello",
        {"conversation": "conversation-1", "message_id": 10**30, "action": "action_affirm"},
        {"conversation": "conversation-" + "9" * 30, "message_id": 1, "action": "action_affirm"},
        {"conversation": "conversation-\u00b2", "message_id": 1, "action": "action_affirm"},
        {"conversation": "conversation-1", "message_id": 1, "action": "action_affirm", "intent": "affirm"},
        {
            "conversation": "conversation-1",
            "message_id": 1,
            "action": "action_affirm",
            "intent": {"name": "affirm", "confidence": "high"},
        },
        {
            "conversation": "conversation-1",
            "message_id": 1,
            "action": "action_affirm",
            "intent": {"name": "affirm", "confidence": "nan"},
        },
    ],
)
def test_the_action_callback_refuses_malformed_turns_clearly(runtime, live_app, body):
    answer = requests.post(
        live_app.config["LIVE_URL"] + "/internal/assistant/turn",
        json=body,
        timeout=5,
        headers={"Authorization": f"Bearer {runtime.settings.assistant_token}"},
    )
    assert answer.status_code == 400
    assert answer.json()["handled"] is False


def test_a_tenant_who_writes_while_opted_out_reaches_a_person(runtime, live_app):
    create_tenant(runtime)
    with transaction(runtime.sessions) as session:
        session.scalar(select(Tenant)).sms_opted_out = True
    tenant_says(live_app, "")  # any message whose reply cannot be sent
    with transaction(runtime.sessions) as session:
        kinds = session.scalars(select(OfficerTask.kind)).all()
    assert "reply_blocked_by_opt_out" in kinds
