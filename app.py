"""The tenant access assistant: Flask app factory and its command line (`flask --app app ...`)."""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask import Flask
from sqlalchemy.orm import sessionmaker

from service import logs, messaging, no_access, recovery, webhooks
from service.queue import RedisWorkQueue
from service.rasa_client import RasaClient
from service.recovery import Sweeper
from service.settings import Settings, load_settings
from service.twilio_gateway import TwilioGateway
from service.webhooks import WebhookSender
from service.worker import InProcessWorker
from store.db import make_engine, make_session_factory, upgrade_database


@dataclass
class Runtime:
    """Everything a request or a background job needs, built once per process."""

    settings: Settings
    sessions: sessionmaker
    gateway: TwilioGateway
    rasa: RasaClient
    status_callback_url: str
    # Threads in this process (the embedded default) or RQ jobs on Redis (scaled mode).
    worker: InProcessWorker | RedisWorkQueue | None = None
    webhook_sender: WebhookSender | None = None
    sweeper: Sweeper | None = None
    rasa_wait_seconds: float = 90.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    # Where tenants and Twilio reach this service (tracking links are made from it).
    base_url: str = ""

    def listen_on(self, port: int) -> None:
        """`serve --port` decides where Twilio's delivery reports and tracking links point, too."""
        self.base_url = _own_address(self.settings, port)
        self.status_callback_url = self.base_url + "/twilio/status"


def _own_address(settings: Settings, port: int) -> str:
    # A public address (PUBLIC_URL) or one given by a parent process (APP_URL) wins over the local port.
    return settings.public_url or os.environ.get("APP_URL") or f"http://127.0.0.1:{port}"


def create_app(settings: Settings | None = None, start_worker: bool = True) -> Flask:
    settings = settings or load_settings()
    # A mistake in config.yml's no_access_policy fails here, at start, not at a tenant's door.
    no_access.policy(settings)
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))

    # AUTO_MIGRATE=0: the parent of several worker processes migrated once already.
    if settings.raw.get("database", {}).get("auto_migrate", True) and os.environ.get("AUTO_MIGRATE") != "0":
        upgrade_database(settings.database_url)
    engine = make_engine(settings.database_url)
    base_url = _own_address(settings, settings.section("service").get("port", 5000))
    runtime = Runtime(
        settings=settings,
        sessions=make_session_factory(engine),
        gateway=TwilioGateway(settings),
        rasa=RasaClient(
            settings.rasa_urls or settings.rasa_url, timeout=settings.section("rasa").get("timeout_seconds", 10)
        ),
        status_callback_url=base_url + "/twilio/status",
        base_url=base_url,
    )
    # Every session carries the webhook addresses, so a visit change stores its events as it commits.
    webhooks.attach(runtime.sessions, settings)

    if not settings.use_simulator and not settings.public_url:
        logging.getLogger(__name__).warning(
            "PUBLIC_URL is not set: Twilio signatures are checked against the request's Host header"
        )

    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=256 * 1024)
    app.extensions["assistant"] = runtime

    from service import hms_api  # noqa: F401  (adds the HMS's routes and the OpenAPI document to api_bp)
    from service.api import api_bp
    from service.api_keys import create_api_key_command
    from service.console import console_bp, create_officer_command, protect_forms
    from service.csv_import import import_csv_command
    from service.tracking import tracking_bp
    from service.web import bp

    app.register_blueprint(bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(tracking_bp)
    # Twilio, the action server and the operatives' API authenticate each request themselves;
    # only the console's forms use a session.
    protect_forms(app, exempt=[bp, api_bp], secure_cookies=(settings.public_url or "").startswith("https://"))

    from service.cli import register_commands

    register_commands(app)
    app.cli.add_command(create_officer_command)
    app.cli.add_command(create_api_key_command)
    app.cli.add_command(import_csv_command)
    app.cli.add_command(webhooks.send_webhooks_command)

    if start_worker:
        messaging.warm_up()
    if settings.scaled:
        # Scaled mode: this process stores and enqueues; `flask --app app work` processes do the rest.
        runtime.worker = RedisWorkQueue(settings.queue_url, settings)
        if start_worker:
            runtime.sweeper = Sweeper(runtime, spool_only=True).start()
    elif start_worker:
        runtime.worker = InProcessWorker(
            handle_conversation=lambda conversation_id: messaging.process_conversation(runtime, conversation_id),
            deliver=lambda message_id: messaging.deliver(runtime, message_id),
        )
        # Webhook events wait in the database; the sender picks up whatever an earlier run left.
        runtime.webhook_sender = webhooks.start_sender(runtime)
    return app


def start_recovery(runtime: Runtime) -> None:
    """For the processes that serve (`serve`, `work`): pick up what a previous run left unfinished,
    then keep sweeping for it (service/recovery.py).

    Not for every command: a `reminders` run from cron must not send another process's replies.
    """
    messaging.flag_interrupted_sends(runtime)
    recovery.replay_spool(runtime)
    recovery.resubmit_unfinished(runtime, older_than=timedelta(0))
    if runtime.sweeper:
        runtime.sweeper.stop()  # the web side's spool-only sweep; the full one starts below
    runtime.sweeper = Sweeper(runtime).start()
