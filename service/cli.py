"""Commands on `flask --app app`: serve, seed-demo, reminders, chat, eval-nlu, bench."""

import json
import secrets
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import requests
from flask import Flask, current_app
from flask.cli import with_appcontext
from twilio.request_validator import RequestValidator

from service import stack


def register_commands(app: Flask) -> None:
    for command in (serve, work, seed_demo, reminders, chat, eval_nlu, bench, simulator, export_evidence):
        app.cli.add_command(command)


def _runtime():
    return current_app.extensions["assistant"]


@click.command("serve")
@click.option("--port", type=int, default=None, help="Port for the web app (default from config.yml).")
@click.option("--simulator/--no-simulator", default=True, help="Run the Twilio simulator in this process.")
@with_appcontext
def serve(port, simulator):
    """Start everything on this machine: simulator, Rasa, action server and the web app."""
    from waitress import create_server

    from service.simulator import SimulatorServer

    runtime = _runtime()
    settings = runtime.settings
    port = port or settings.section("service").get("port", 5000)
    runtime.listen_on(port)
    with_simulator = settings.use_simulator and simulator
    sim_port = int(settings.simulator_url.rsplit(":", 1)[1]) if with_simulator else None
    rasa_port = int(settings.rasa_url.rsplit(":", 1)[1])
    rasa_count = int(settings.section("rasa").get("servers", 2)) if settings.scaled else 1
    _require_free_ports(
        {port: "the web app: service.port in config.yml, or serve --port"}
        | ({sim_port: "the Twilio simulator: twilio.simulator_port"} if with_simulator else {})
        | {rasa_port + index: "Rasa: the port in rasa.url, and the ones after it" for index in range(rasa_count)}
        | {settings.action_server_port: "Rasa's action server: rasa.action_server_port"}
    )
    progress = stack.Progress()
    model = stack.ensure_model(progress)
    log_dir = settings.var_dir / "logs"

    if with_simulator:
        SimulatorServer(settings.twilio_auth_token, port=sim_port).start()
        progress.note(f"✓ Twilio simulator on http://127.0.0.1:{sim_port} (no Twilio credentials set)")

    action_port = settings.action_server_port
    action_url = f"http://127.0.0.1:{action_port}/webhook"
    processes = [stack.start_action_server(action_port, f"http://127.0.0.1:{port}", settings.assistant_token, log_dir)]
    if settings.scaled:
        _serve_scaled(settings, port, model, rasa_port, action_url, log_dir, processes, progress)
        return

    processes.append(stack.start_rasa_server(model, rasa_port, action_url, log_dir))
    from app import start_recovery

    start_recovery(runtime)
    _started_notes(progress, port)
    server = create_server(current_app._get_current_object(), host="127.0.0.1", port=port, threads=8)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop(processes)
        progress.note("✓ Stopped")


def _serve_scaled(settings, port, model, rasa_port, action_url, log_dir, processes, progress) -> None:
    """Scaled mode on one machine: several Rasa servers, job workers and web workers (README)."""
    import os
    import shutil

    rules = settings.section("queue")
    rasa_count = int(settings.section("rasa").get("servers", 2))
    job_workers = int(rules.get("job_workers", 2))
    web_workers = int(rules.get("web_workers", 2))

    # Every process adds its counters here, and /metrics on any web worker reports the sum.
    metrics_dir = settings.var_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    rasa_urls = [f"http://127.0.0.1:{rasa_port + index}" for index in range(rasa_count)]
    env = {
        **os.environ,
        "RASA_URLS": ",".join(rasa_urls),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        # This process has just migrated the database; the children must not race to do it again.
        "AUTO_MIGRATE": "0",
        "APP_URL": f"http://127.0.0.1:{port}",
    }

    _require_redis(settings.queue_url)
    endpoints = stack.scaled_endpoints(settings, action_url)
    for index in range(rasa_count):
        processes.append(
            stack.start_rasa_server(
                model, rasa_port + index, action_url, log_dir, endpoints=endpoints, log_name=f"rasa-{index + 1}.log"
            )
        )
    work = [sys.executable, "-m", "flask", "--app", "app", "work"]
    workers = stack.Supervisor(
        lambda index: stack.spawn(work, env, log_dir / f"worker-{index + 1}.log"), count=job_workers
    )
    gunicorn = [
        sys.executable, "-m", "gunicorn", "--workers", str(web_workers), "--threads", "8",
        "--bind", f"127.0.0.1:{port}", "app:create_app()",
    ]  # fmt: skip
    web = stack.spawn(gunicorn, env, log_dir / "web.log")
    processes.append(web)

    progress.note(
        f"✓ Scaled mode: {web_workers} web workers, {job_workers} job workers, {rasa_count} Rasa servers "
        f"(trackers in PostgreSQL, locks and jobs in Redis); logs in {log_dir}"
    )
    _started_notes(progress, port)
    try:
        while web.poll() is None:
            time.sleep(2)
            # A job worker that died (killed, out of memory) is replaced; its work is swept up.
            workers.check(lambda text: progress.note(f"job worker: {text}"))
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop(workers.processes + processes)
        progress.note("✓ Stopped")
    if web.returncode not in (0, None, -15):
        raise click.ClickException(f"the web workers stopped (exit {web.returncode}); see {log_dir / 'web.log'}")


def _require_redis(url: str) -> None:
    from redis import Redis
    from redis.exceptions import RedisError

    connection = Redis.from_url(url, socket_connect_timeout=3)
    try:
        connection.ping()
    except RedisError as error:
        problem = f"Redis does not answer at REDIS_URL ({error}); start it, or unset REDIS_URL"
        raise click.ClickException(problem) from error
    finally:
        connection.close()


def _require_free_ports(ports: dict[int, str]) -> None:
    """Fail at once, naming the setting to change, rather than after a minute of start-up."""
    for port, what in ports.items():
        if stack.port_in_use(port):
            raise click.ClickException(
                f"Port {port} ({what}) is in use by another program, perhaps another copy of this service. "
                "Stop it, or choose free ports in config.yml (or a copy named by ASSISTANT_CONFIG)."
            )


def _started_notes(progress, port: int) -> None:
    progress.note(f"✓ Web app on http://127.0.0.1:{port} (Twilio webhook: /twilio/inbound, status: /twilio/status)")
    progress.note("  Rasa is loading its model in the background (about a minute); messages wait for it.")
    progress.note(
        "  Try it: .venv/bin/flask --app app seed-demo, then .venv/bin/flask --app app chat --phone 07700900101"
    )


@click.command("work")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@with_appcontext
def work(burst):
    """Scaled mode: answer messages and send them from the Redis queue, and sweep up unfinished work."""
    from app import start_recovery
    from service import webhooks
    from service.queue import serve_jobs

    runtime = _runtime()
    if not runtime.settings.scaled:
        raise click.UsageError("`work` is for scaled mode (set REDIS_URL); the embedded default works inside `serve`.")
    start_recovery(runtime)
    runtime.webhook_sender = webhooks.start_sender(runtime)
    serve_jobs(runtime, burst=burst)


@click.command("simulator")
@click.option("--port", type=int, default=None)
@with_appcontext
def simulator(port):
    """Run only the local Twilio simulator."""
    from service.simulator import SimulatorServer

    settings = _runtime().settings
    server = SimulatorServer(
        settings.twilio_auth_token, port=port or settings.section("twilio").get("simulator_port", 5090)
    )
    server.start()
    click.echo(f"Twilio simulator on {server.url}")
    server.thread.join()


@click.command("seed-demo")
@click.option("--reset", is_flag=True, help="Remove existing demo data first.")
@with_appcontext
def seed_demo(reset):
    """Load invented tenants (07700 900xxx numbers), homes, operatives and visits."""
    from service.demo import describe, seed

    counts = seed(_runtime(), reset=reset)
    if counts:
        click.echo(", ".join(f"{value} {name}" for name, value in counts.items()))
    else:
        click.echo("Demo data is already loaded (use --reset to start again).")
    for line in describe(_runtime()):
        click.echo(f"  {line}")


@click.command("reminders")
@click.option("--at", "at", default=None, help='Send what would be due at this London time, e.g. "2026-12-05 18:30".')
@with_appcontext
def reminders(at):
    """Send every reminder that is due now (or at --at), and apologise for any visit we missed."""
    from service import recovery
    from service.missed_visits import sweep
    from service.no_access import send_due_follow_ups
    from service.reminders import send_due_reminders

    moment = datetime.now(timezone.utc)
    if at:
        try:
            moment = datetime.fromisoformat(at).replace(tzinfo=ZoneInfo("Europe/London"))
        except ValueError as error:
            raise click.BadParameter("use the form 2026-12-05 18:30") from error
    started = datetime.now(timezone.utc)
    counts = send_due_reminders(_runtime(), moment)
    queued = f", queued for the job workers: {counts['queued']}" if counts.get("queued") else ""
    click.echo(
        f"reminders sent: {counts.get('sent', 0)}{queued}, skipped: {counts.get('skipped', 0)}, "
        f"not sent (see officer tasks): {counts.get('not_sent', 0) + counts.get('failed', 0)}"
    )
    # Run with the reminders so a visit we missed is put right within the hour, once.
    click.echo(f"visits we missed, apologised for and passed to the office: {sweep(_runtime(), moment)}")
    # Follow-ups after a failed visit that waited for a safe time to text.
    click.echo(f"no-access follow-ups sent: {send_due_follow_ups(_runtime(), moment)}")
    # What an earlier run stored but never sent (it was killed part way): sent now, once.
    click.echo(f"left unsent by an earlier run, sent now: {recovery.send_left_over(_runtime(), started)}")
    # A WhatsApp message that fails comes back by delivery report and is retried by SMS in the
    # background; give such work a moment before this process exits (a restart also picks it up).
    if _runtime().worker:
        _runtime().worker.wait_idle(30)


@click.command("export-evidence")
@click.option("--visit", "reference", default=None, help="The visit's reference, e.g. GAS-1001.")
@click.option("--case", "case_id", type=int, default=None, help="The no-access case's number.")
@click.option("--format", "fmt", type=click.Choice(["csv", "pdf"]), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The file to write.")
@with_appcontext
def export_evidence(reference, case_id, fmt, out):
    """Write the full chronological record of a visit or a no-access case, for a legal team."""
    from service import evidence
    from service.evidence_pdf import to_pdf
    from store.db import transaction

    if (reference is None) == (case_id is None):
        raise click.UsageError("give either --visit REF or --case ID")
    runtime = _runtime()
    with transaction(runtime.sessions) as session:
        try:
            if reference is not None:
                record = evidence.for_visit(session, evidence.visit_by_reference(session, reference), runtime.clock())
            else:
                record = evidence.for_case(session, evidence.case_by_id(session, case_id), runtime.clock())
        except evidence.NotFound as missing:
            raise click.ClickException(str(missing)) from missing
    # With a byte-order mark, so a spreadsheet opens the UTF-8 as UTF-8.
    out.write_bytes(to_pdf(record) if fmt == "pdf" else evidence.to_csv(record).encode("utf-8-sig"))
    click.echo(f"{record.title}: {len(record.rows)} lines written to {out}")


@click.command("chat")
@click.option("--phone", required=True, help="The tenant's number, e.g. 07700900101.")
@click.option("--channel", type=click.Choice(["sms", "whatsapp"]), default="sms")
@click.option("--url", default=None, help="The running service (default http://127.0.0.1:<port>).")
@with_appcontext
def chat(phone, channel, url):
    """Talk to the assistant as a tenant, through the signed webhook of the running service."""
    from service.phones import normalise_phone, twilio_address

    runtime = _runtime()
    settings = runtime.settings
    url = (url or f"http://127.0.0.1:{settings.section('service').get('port', 5000)}").rstrip("/")
    try:
        requests.get(f"{url}/health", timeout=3)
    except requests.RequestException as error:
        raise click.ClickException(f"The service is not running at {url}. Start it first (see README).") from error

    sender = twilio_address(channel, normalise_phone(phone))
    to = settings.sms_from if channel == "sms" else twilio_address("whatsapp", settings.whatsapp_from)
    validator = RequestValidator(settings.twilio_auth_token)
    click.echo("Type a message and press Enter (Ctrl-D to leave).")
    for line in sys.stdin:
        sid = "SM" + secrets.token_hex(16)
        form = {"From": sender, "To": to, "Body": line.rstrip("\n"), "MessageSid": sid, "NumMedia": "0"}
        webhook = f"{url}/twilio/inbound"
        signature = validator.compute_signature((settings.public_url or url) + "/twilio/inbound", form)
        answer = requests.post(webhook, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
        if answer.status_code != 200:
            click.echo(f"(the webhook answered {answer.status_code})")
            continue
        for reply in _wait_for_replies(runtime, sid, timeout=120):
            click.echo(f"assistant> {reply}")


def _wait_for_replies(runtime, sid: str, timeout: float) -> list[str]:
    from sqlalchemy import select

    from store.db import transaction
    from store.models import Message

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with transaction(runtime.sessions) as session:
            inbound = session.scalar(select(Message).where(Message.twilio_sid == sid))
            if inbound is not None and inbound.state == "answered":
                replies = session.scalars(
                    select(Message.body).where(Message.reply_to_id == inbound.id).order_by(Message.id)
                ).all()
                return list(replies) or ["(no reply: the assistant stays quiet for this message)"]
        time.sleep(0.2)
    return ["(no reply yet; is Rasa still loading? see var/logs/rasa.log)"]


@click.command("eval-nlu")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the full JSON report here.",
)
@with_appcontext
def eval_nlu(directory, report_path):
    """Predict every line of the JSONL files in DIRECTORY and report accuracy."""
    from service.evaluation import evaluate_directory, print_summary

    report = evaluate_directory(_runtime(), directory, progress=stack.Progress())
    if report_path:
        report_path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print_summary(report)


@click.command("bench")
@click.option("--seconds", type=int, default=60, help="How long to sustain the inbound load.")
@click.option("--tenants", type=int, default=20, help="Concurrent tenants sending messages.")
@click.option("--reminders", "reminders_count", type=int, default=10_000, help="Reminders to send (0: skip).")
@click.option("--inbound/--no-inbound", default=True, help="Run the inbound load (starts the real model).")
@click.option("--scaled", is_flag=True, help="Measure scaled mode (PostgreSQL, Redis, several processes).")
@click.option(
    "--postgres",
    default="postgresql://postgres@127.0.0.1:5432/postgres",
    show_default=True,
    help="With --scaled: a PostgreSQL URL allowed to create the throwaway database.",
)
@click.option(
    "--redis", "redis_url", default="redis://127.0.0.1:6379/14", show_default=True, help="With --scaled (emptied)."
)
@with_appcontext
def bench(seconds, tenants, reminders_count, inbound, scaled, postgres, redis_url):
    """Measure inbound latency, throughput, memory and start time; then the outbound reminder rate."""
    from service.bench_outbound import run_outbound_benchmark
    from service.benchmark import run_benchmark

    where = {"database_url": postgres, "redis_url": redis_url} if scaled else None
    if inbound:
        run_benchmark(_runtime(), seconds=seconds, tenants=tenants, scaled=where)
    if reminders_count:
        run_outbound_benchmark(reminders_count, echo=click.echo, scaled=where)
