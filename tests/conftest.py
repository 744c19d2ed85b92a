"""Fixtures: a real database, the real trained model, the Twilio simulator, a live app.

The Rasa model is trained once (and reused while the training data is unchanged),
and Rasa with its action server is started once per test run. Each test gets
empty tables and an empty simulator.
"""

import os
import secrets
import socket
import threading
import time

import pytest
from sqlalchemy import delete
from werkzeug.serving import make_server

from app import create_app
from service import stack
from service.settings import load_settings
from service.simulator import SimulatorServer
from store.db import transaction
from store.models import Base


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def simulator():
    token = secrets.token_hex(16)
    server = SimulatorServer(token, callback_delay=0.01).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ports():
    return {"app": free_port(), "rasa": free_port(), "actions": free_port()}


@pytest.fixture(scope="session")
def settings(var_dir, simulator, ports):
    return load_settings(
        var_dir=var_dir,
        database_url=f"sqlite:///{var_dir / 'test.db'}",
        twilio_auth_token=simulator.state.auth_token,
        simulator_url=simulator.url,
        use_simulator=True,
        rasa_url=f"http://127.0.0.1:{ports['rasa']}",
        public_url="",
    )


@pytest.fixture(scope="session")
def live_app(settings, ports):
    """The web app on a real port, so Rasa's action server can call it back."""
    os.environ["APP_URL"] = f"http://127.0.0.1:{ports['app']}"
    app = create_app(settings)
    server = make_server("127.0.0.1", ports["app"], app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["LIVE_URL"] = f"http://127.0.0.1:{ports['app']}"
    yield app
    server.shutdown()


@pytest.fixture(scope="session")
def rasa_stack(live_app, settings, ports, var_dir):
    progress = stack.Progress()
    model = stack.ensure_model(progress)
    log_dir = var_dir / "logs"
    processes = [
        stack.start_action_server(ports["actions"], live_app.config["LIVE_URL"], settings.assistant_token, log_dir),
        stack.start_rasa_server(model, ports["rasa"], f"http://127.0.0.1:{ports['actions']}/webhook", log_dir),
    ]
    runtime = live_app.extensions["assistant"]
    if not runtime.rasa.wait_until_ready(240):
        stack.stop(processes)
        log = (log_dir / "rasa.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"Rasa did not become ready:\n{log}")
    _wait_for_port(ports["actions"], 60)
    yield runtime
    stack.stop(processes)


def _wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"nothing listening on port {port}")


@pytest.fixture
def runtime(live_app, simulator):
    """The app's runtime with every table emptied and the simulator reset."""
    runtime = live_app.extensions["assistant"]
    runtime.worker.wait_idle(30)
    simulator.state.wait_for_callbacks()
    with transaction(runtime.sessions) as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
    with simulator.state.lock:
        simulator.state.messages.clear()
        simulator.state.faults.queued.clear()
        simulator.state.faults.delay_seconds = 0
    runtime.clock = _real_clock
    yield runtime
    runtime.worker.wait_idle(30)
    simulator.state.wait_for_callbacks()


def _real_clock():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


@pytest.fixture
def client(live_app):
    """A browser-less client of the live app, with no password guesses remembered from other tests."""
    from service.console.auth import throttle

    throttle.forget()
    return live_app.test_client()


@pytest.fixture
def assistant(runtime, rasa_stack):
    """The runtime, with the real Rasa model and action server answering."""
    return runtime
