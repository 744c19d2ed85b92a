"""`bench --reminders N`: render, store and hand N reminders to the Twilio simulator.

A throwaway SQLite database gets 1,000 invented tenants (all of Ofcom's drama
range, so numbers repeat for larger runs: each tenant has several visits),
their languages spread over every language we speak, and one reminder due per
visit. Then the same code the `reminders` command runs sends them all, to a
simulator in its own process. Reported: how fast the texts render alone, how
long the whole run takes and the rate it sustains, and that every reminder
reached the simulator once.
"""

import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from service.benchmark import ThrowawayDatabase, empty_redis, free_port, wait_for_url
from service.languages import configured_languages
from service.settings import ROOT, load_settings

DRAMA_NUMBERS = 1000


def run_outbound_benchmark(count: int, echo=print, scaled: dict | None = None) -> dict:
    """`scaled`: {"database_url": an admin PostgreSQL URL, "redis_url": ...}: queue on Redis, send by job workers."""
    database = ThrowawayDatabase(scaled["database_url"]) if scaled else None
    try:
        return _run(count, echo, scaled, database)
    finally:
        if database:
            database.drop()


def _run(count: int, echo, scaled: dict | None, database) -> dict:
    from app import create_app
    from service import i18n
    from service.reminders import send_due_reminders

    workdir = Path(tempfile.mkdtemp(prefix="assistant-bench-out-"))
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    database_url = database.url if database else f"sqlite:///{workdir / 'bench.db'}"
    settings = load_settings(var_dir=workdir, database_url=database_url, simulator_url=sim_url)
    env = {**os.environ, "VAR_DIR": str(workdir), "DATABASE_URL": database_url, "TWILIO_SIMULATOR_URL": sim_url}
    env = {key: value for key, value in env.items() if key not in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")}
    if scaled:
        empty_redis(scaled["redis_url"])
        settings.queue_url = env["REDIS_URL"] = scaled["redis_url"]
        # Delivery reports go nowhere (as below): this measures our side of the send.
        env.update({"AUTO_MIGRATE": "0", "APP_URL": "http://127.0.0.1:9", "LOG_LEVEL": "WARNING"})
    simulator = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "simulator", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = []
    try:
        wait_for_url(sim_url + "/sim/messages")
        app = create_app(settings, start_worker=False)
        runtime = app.extensions["assistant"]
        runtime.status_callback_url = ""  # no delivery reports: this measures our side of the send
        due_at = _seed(runtime, count)
        languages = [language.code for language in configured_languages(settings)]

        started = time.perf_counter()
        slot_start = datetime.now(timezone.utc) + timedelta(days=2)
        for index in range(count):
            locale = languages[index % len(languages)]
            i18n.render(
                "reminder",
                locale,
                name="Sam",
                visit=i18n.render("visit_type.gas_safety_check", locale),
                slot=i18n.format_slot(slot_start, slot_start + timedelta(hours=1), locale),
            )
        render_seconds = time.perf_counter() - started

        if scaled:
            job_workers = int(settings.section("queue").get("job_workers", 2))
            command = [sys.executable, "-m", "flask", "--app", "app", "work"]
            for _ in range(job_workers):
                workers.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL))

        started = time.perf_counter()
        counts = send_due_reminders(runtime, due_at)
        queued_seconds = time.perf_counter() - started
        received = _wait_for(sim_url, count if scaled else 0)
        send_seconds = time.perf_counter() - started
    finally:
        for process in [*workers, simulator]:
            process.terminate()
        for process in [*workers, simulator]:
            process.wait(timeout=30)

    handed_over = counts.get("queued", 0) + counts.get("sent", 0)
    report = {
        "mode": "scaled" if scaled else "embedded",
        "reminders": count,
        "languages": len(languages),
        "render_only_per_second": round(count / render_seconds),
        "stored_and_queued_seconds": round(queued_seconds, 1) if scaled else None,
        "send_seconds": round(send_seconds, 1),
        "sent_per_second": round(len(received) / send_seconds, 1),
        "sent": handed_over,
        "reached_simulator": len(received),
        "duplicated": len(received) - len({(m["to"], m["body"]) for m in received}),
    }
    echo(f"Outbound ({report['mode']} mode): {count} reminders in {report['languages']} languages")
    echo(f"  rendering alone:          {report['render_only_per_second']} texts per second")
    if scaled:
        echo(f"  claimed, rendered, stored and queued on Redis by one process: {report['stored_and_queued_seconds']} s")
        senders = f"{len(workers)} job workers"
    else:
        senders = "one process"
    echo(
        f"  claim, render, store and hand to the simulator: {report['send_seconds']} s "
        f"({report['sent_per_second']} per second, {senders})"
    )
    echo(f"  sent {report['sent']}, reached the simulator {report['reached_simulator']}")
    echo(f"  duplicated: {report['duplicated']}")
    return report


def _wait_for(sim_url: str, count: int, patience: float = 60) -> list[dict]:
    """The simulator's messages once it has `count` (the job workers are still sending); stops when they stall."""
    received, last_change = [], time.monotonic()
    while True:
        now_received = requests.get(sim_url + "/sim/messages", timeout=60).json()
        if len(now_received) != len(received):
            last_change = time.monotonic()
        received = now_received
        if len(received) >= count or time.monotonic() - last_change > patience:
            return received
        time.sleep(0.5)


def _seed(runtime, count: int) -> datetime:
    """`count` visits two days ahead, each with its two-days-before reminder due now."""
    from store.db import transaction
    from store.models import Operative, Property, Reminder, Tenant, Visit

    languages = [language.code for language in configured_languages(runtime.settings)]
    now = datetime.now(timezone.utc)
    start = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    with transaction(runtime.sessions) as session:
        operative = Operative(name="Priya Shah", skills=["gas"], working_hours={})
        session.add(operative)
        session.flush()
        homes = []
        for index in range(min(count, DRAMA_NUMBERS)):
            tenant = Tenant(
                name=f"Bench Tenant{index}",
                phone=f"+447700900{index:03d}",
                language=languages[index % len(languages)],
                phone_verified_at=now,
                needs_asked_at=now,
            )
            homes.append(
                Property(address_line1=f"{index} Test Street", town="Leeds", postcode="LS1 1AA", tenant=tenant)
            )
            session.add(tenant)
        session.add_all(homes)
        session.flush()
        for index in range(count):
            home = homes[index % len(homes)]
            slot = start + timedelta(minutes=index)
            visit = Visit(
                reference=f"R-{index:06d}",
                visit_type="gas_safety_check",
                tenant_id=home.tenant_id,
                property_id=home.id,
                operative_id=operative.id,
                slot_start=slot,
                slot_end=slot + timedelta(hours=1),
            )
            session.add(visit)
            session.flush()
            session.add(Reminder(visit_id=visit.id, kind="two_days", due_at=now - timedelta(minutes=1)))
    return now
