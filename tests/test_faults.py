"""Faults in the embedded default: Rasa slow, Twilio timing out, the database away, a worker cut off.

Each test breaks one dependency for real (a server that does not answer in
time, a database that cannot be opened, a process state left behind by a
crash) and checks the promise: the message is kept, answered once, and a
person is told when the assistant cannot answer.
"""

import http.server
import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app import create_app
from service import messaging, recovery, stack
from service.rasa_client import RasaClient
from service.settings import load_settings
from service.twilio_gateway import TwilioGateway
from store.db import transaction
from store.models import Message, OfficerTask
from tests.factories import SENDER, create_tenant, new_sid, replies_to, sign, tenant_says, wait_for
from tests.test_sending import stored_reply

HELD = "Thank you, we have your message. A member of our team will reply soon."


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """A server (Rasa or Twilio) that takes far longer than our timeout to answer anything."""

    requests_seen: list[str] = []

    def do_GET(self):
        self._slowly()

    def do_POST(self):
        self._slowly()

    def _slowly(self):
        self.requests_seen.append(self.path)
        time.sleep(3)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"model_file": "slow.tar.gz"}')
        except BrokenPipeError:
            pass  # our client gave up long ago, as it should

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    SlowHandler.requests_seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_when_rasa_is_slow_the_webhook_answers_at_once_and_the_tenant_hears_a_person_will_reply(
    runtime, live_app, slow_server
):
    create_tenant(runtime)
    slow = RasaClient(slow_server, timeout=1)
    working, runtime.rasa = runtime.rasa, slow
    slow.known_ready = True  # it answered before; now it hangs
    try:
        sid = new_sid()
        started = time.monotonic()
        tenant_says(live_app, "can I move my visit to friday", sid=sid, wait=False)
        webhook_seconds = time.monotonic() - started
        replies = replies_to(live_app, sid)
    finally:
        runtime.rasa = working
        slow.http.close()
    assert webhook_seconds < 1
    assert replies == [HELD]
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(OfficerTask.kind)) == "assistant_unavailable"


def test_a_twilio_timeout_is_flagged_for_a_person_and_never_resent(runtime, slow_server):
    create_tenant(runtime)
    slow_twilio = replace(runtime.settings, simulator_url=slow_server)
    impatient = TwilioGateway(slow_twilio, timeout=0.5)
    working, runtime.gateway = runtime.gateway, impatient
    try:
        message_id = stored_reply(runtime)
        messaging.deliver(runtime, message_id)
        messaging.deliver(runtime, message_id)  # a retry must not send it a second time
    finally:
        runtime.gateway = working
        impatient.client.http_client.session.close()
    with transaction(runtime.sessions) as session:
        message = session.get(Message, message_id)
        task = session.scalar(select(OfficerTask))
    # Twilio may have taken it (the answer was lost, not the request): a person checks.
    assert message.state == "unconfirmed"
    assert task.kind == "send_failed"
    assert len(SlowHandler.requests_seen) == 1


def test_a_send_cut_off_by_a_crash_is_flagged_once_however_many_processes_sweep(runtime):
    create_tenant(runtime)
    message_id = stored_reply(runtime)
    with transaction(runtime.sessions) as session:
        # As a process killed while Twilio was being asked leaves it.
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(state="sending", updated_at=messaging.utcnow() - timedelta(minutes=10))
        )
    assert messaging.flag_interrupted_sends(runtime) == 1
    assert messaging.flag_interrupted_sends(runtime) == 0
    with transaction(runtime.sessions) as session:
        assert session.get(Message, message_id).state == "unconfirmed"
        assert session.scalar(select(func.count(OfficerTask.id))) == 1


def test_a_message_whose_handling_keeps_failing_goes_to_a_person(runtime, live_app, monkeypatch):
    create_tenant(runtime)

    def broken(runtime, message_id):
        raise RuntimeError("a fault while answering")

    monkeypatch.setattr(messaging, "_answer_without_rasa", broken)
    sid = new_sid()
    tenant_says(live_app, "when is my visit", sid=sid, wait=False)
    with transaction(runtime.sessions) as session:
        conversation_id = session.scalar(select(Message.conversation_id).where(Message.twilio_sid == sid))
    for _ in range(messaging.MAX_ANSWER_ATTEMPTS):
        runtime.worker.wait_idle(10)
        runtime.worker.submit_conversation(conversation_id)  # as the recovery sweep does
    monkeypatch.undo()
    assert replies_to(live_app, sid) == [HELD]
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(OfficerTask.kind)) == "assistant_failed"
        assert session.scalar(select(Message.attempts).where(Message.twilio_sid == sid)) == 4


def test_while_the_database_is_away_messages_wait_on_disk_and_are_answered_once_it_is_back(
    assistant, live_app, tmp_path
):
    runtime = assistant
    create_tenant(runtime)
    settings = runtime.settings
    # The same service, but its database cannot be opened (as while PostgreSQL restarts).
    away = load_settings(
        var_dir=settings.var_dir,
        database_url=f"sqlite:///{tmp_path / 'missing-folder' / 'assistant.db'}",
        twilio_auth_token=settings.twilio_auth_token,
        simulator_url=settings.simulator_url,
        use_simulator=True,
        rasa_url=settings.rasa_url,
        public_url="",
    )
    away.raw = {**away.raw, "database": {"auto_migrate": False}}
    outage = create_app(away, start_worker=False).test_client()
    sids = [new_sid(), new_sid()]
    for sid, body in zip(sids, ["hello", "is anyone there"], strict=True):
        form = {"From": "+447700900123", "To": SENDER, "Body": body, "MessageSid": sid, "NumMedia": "0"}
        url = "http://localhost/twilio/inbound"
        answer = outage.post("/twilio/inbound", data=form, headers={"X-Twilio-Signature": sign(runtime, url, form)})
        assert answer.status_code == 200  # Twilio hears we have it...
    assert len(list(recovery.spool_dir(settings).glob("*.json"))) == 2  # ...and we do, on disk

    # The database is back: the sweep stores both, in order, and each is answered once.
    assert recovery.replay_spool(runtime) == 2
    assert recovery.replay_spool(runtime) == 0
    assert list(recovery.spool_dir(settings).glob("*")) == []
    for sid in sids:
        assert len(replies_to(live_app, sid, timeout=60)) == 1
    with transaction(runtime.sessions) as session:
        stored = session.scalars(select(Message.twilio_sid).where(Message.direction == "inbound").order_by(Message.id))
        assert list(stored) == sids


def test_a_spool_file_that_cannot_be_read_is_set_aside_not_retried_forever(runtime):
    folder = recovery.spool_dir(runtime.settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "00000000000000000001-inbound-broken.json").write_text("{not json", encoding="utf-8")
    assert recovery.replay_spool(runtime) == 0
    assert [path.name for path in folder.iterdir()] == ["00000000000000000001-inbound-broken.json.failed"]
    assert recovery.replay_spool(runtime) == 0  # set aside: not tried again
    (folder / "00000000000000000001-inbound-broken.json.failed").unlink()


def _waiting_message(runtime, body: str, attempts: int) -> int:
    """A stored message that earlier runs already tried (and failed) to answer `attempts` times."""
    form = {"From": "+447700900123", "To": SENDER, "Body": body, "MessageSid": new_sid(), "NumMedia": "0"}
    message, _ = messaging.store_inbound(runtime, form)
    with transaction(runtime.sessions) as session:
        session.execute(update(Message).where(Message.id == message.id).values(attempts=attempts))
    return message.id


def test_an_emergency_given_up_on_still_gets_the_safety_message_and_the_urgent_alert(runtime):
    create_tenant(runtime)
    message_id = _waiting_message(runtime, "I can smell gas in the kitchen", attempts=messaging.MAX_ANSWER_ATTEMPTS)
    with transaction(runtime.sessions) as session:
        conversation_id = session.get(Message, message_id).conversation_id
    messaging.process_conversation(runtime, conversation_id)
    with transaction(runtime.sessions) as session:
        reply = session.scalar(select(Message).where(Message.reply_to_id == message_id))
        tasks = session.scalars(select(OfficerTask.kind)).all()
    assert reply.template_key == "safety.gas"
    assert reply.state == "handed_over"  # sent at once, not left for the sweep
    assert tasks == ["urgent_safety"]


def test_when_answering_an_emergency_is_what_fails_a_person_is_still_alerted_urgently(runtime, monkeypatch):
    create_tenant(runtime)
    message_id = _waiting_message(runtime, "I can smell gas in the kitchen", attempts=messaging.MAX_ANSWER_ATTEMPTS)
    with transaction(runtime.sessions) as session:
        conversation_id = session.get(Message, message_id).conversation_id

    def broken(*args):
        raise RuntimeError("the safety message cannot be built")

    monkeypatch.setattr(messaging, "_answer_emergency", broken)
    messaging.process_conversation(runtime, conversation_id)
    with transaction(runtime.sessions) as session:
        reply = session.scalar(select(Message).where(Message.reply_to_id == message_id))
        tasks = session.scalars(select(OfficerTask.kind)).all()
        state = session.get(Message, message_id).state
    assert tasks == ["urgent_safety"]
    assert reply.body == HELD and reply.state == "handed_over"
    assert state == "answered"


def test_a_database_too_slow_for_twilio_gets_the_message_spooled_and_stored_once(runtime, client, monkeypatch):
    from service import web

    create_tenant(runtime, verified=False)
    real_accept = messaging.accept_inbound
    database_back = threading.Event()

    def hung_then_lands(*args, **kwargs):
        database_back.wait(30)  # a database that stopped answering, until the test brings it back
        return real_accept(*args, **kwargs)

    monkeypatch.setattr(web, "STORE_DEADLINE_SECONDS", 0.3)
    monkeypatch.setattr(messaging, "accept_inbound", hung_then_lands)
    sid = new_sid()
    form = {"From": "+447700900123", "To": SENDER, "Body": "hello", "MessageSid": sid, "NumMedia": "0"}
    answer = client.post(
        "/twilio/inbound",
        data=form,
        headers={"X-Twilio-Signature": sign(runtime, "http://localhost/twilio/inbound", form)},
    )

    # Twilio has its answer while the store still hangs, and the message is safe on disk.
    assert answer.status_code == 200
    assert len(list(recovery.spool_dir(runtime.settings).glob("*.json"))) == 1
    monkeypatch.undo()

    def stored_count():
        with transaction(runtime.sessions) as session:
            return session.scalar(select(func.count(Message.id)).where(Message.twilio_sid == sid))

    assert stored_count() == 0
    database_back.set()
    assert wait_for(stored_count) == 1  # the late store lands...
    assert recovery.replay_spool(runtime) == 1  # ...and the replay finds it already stored
    runtime.worker.wait_idle(10)
    assert stored_count() == 1
    with transaction(runtime.sessions) as session:
        inbound_id = session.scalar(select(Message.id).where(Message.twilio_sid == sid))
        assert session.scalar(select(func.count(Message.id)).where(Message.reply_to_id == inbound_id)) == 1


def test_a_spooled_webhook_that_cannot_be_stored_is_set_aside_and_the_rest_behind_it_are_stored(runtime, live_app):
    create_tenant(runtime)
    folder = recovery.spool_dir(runtime.settings)
    # An early file that can never be stored (its fields are not a form's), then a good one behind it.
    recovery.keep_for_later(runtime.settings, "inbound", {"From": 5, "Body": ["not", "text"]})
    good = new_sid()
    form = {"From": "+447700900123", "To": SENDER, "Body": "hello", "MessageSid": good, "NumMedia": "0"}
    recovery.keep_for_later(runtime.settings, "inbound", form)
    assert recovery.replay_spool(runtime) == 1
    assert [path.name.endswith(".failed") for path in folder.iterdir()] == [True]
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(Message.id).where(Message.twilio_sid == good)) is not None
    for path in folder.iterdir():
        path.unlink()


def test_a_nul_character_in_a_message_is_stored_marked_not_refused(runtime, live_app):
    create_tenant(runtime)
    sid = new_sid()
    tenant_says(live_app, "hello\x00there", sid=sid, wait=False)
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(Message.body).where(Message.twilio_sid == sid)) == "hello\ufffdthere"


def test_serving_again_after_a_crash_answers_what_was_left_waiting(runtime, live_app):
    from app import start_recovery

    create_tenant(runtime, verified=False)
    # As a crash leaves it: stored, never handed to a worker.
    message_id = _waiting_message(runtime, "hello", attempts=0)
    try:
        start_recovery(runtime)
        runtime.worker.wait_idle(30)
    finally:
        runtime.sweeper.stop()
        runtime.sweeper = None
    with transaction(runtime.sessions) as session:
        assert session.get(Message, message_id).state == "answered"
        assert session.scalar(select(func.count(Message.id)).where(Message.reply_to_id == message_id)) == 1


class _Child:
    """A stand-in for a job worker's process: running until told to stop."""

    def __init__(self):
        self.returncode = None

    def poll(self):
        return self.returncode

    def dies(self, code=1):
        self.returncode = code


def test_a_job_worker_that_keeps_failing_at_start_is_restarted_ever_more_slowly():
    now = [1000.0]
    started = []

    def start(index):
        started.append(_Child())
        return started[-1]

    supervisor = stack.Supervisor(start, count=2, clock=lambda: now[0])
    notes = []

    def tick(seconds):
        now[0] += seconds
        supervisor.check(notes.append)

    # A worker that fails at once is started again after 2 s, then 4 s, 8 s... never more than 60 s.
    pauses = []
    for _ in range(7):
        supervisor.processes[0].dies()
        before = len(started)
        waited = 0
        while len(started) == before:
            tick(1)
            waited += 1
        pauses.append(waited)
    # Each wait is the tick that noticed the stop, then the pause.
    assert pauses == [1 + pause for pause in (2, 4, 8, 16, 32, 60, 60)]
    assert "process 1 stopped (exit 1); starting it again in 2 s" in notes

    # The other worker was left alone throughout.
    assert supervisor.processes[1] is started[1]

    # One that ran for a good while before it stopped is replaced at once, and its pause starts over.
    tick(120)
    supervisor.processes[0].dies(-9)
    tick(2)
    assert supervisor.processes[0] is started[-1] and supervisor.processes[0].poll() is None
    assert notes[-1] == "process 1 stopped (exit -9); starting it again now"
    supervisor.processes[0].dies()
    tick(1)
    assert notes[-1] == "process 1 stopped (exit 1); starting it again in 2 s"
