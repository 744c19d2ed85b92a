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

from service.benchmark import free_port, wait_for_url
from service.languages import configured_languages
from service.settings import ROOT, load_settings

DRAMA_NUMBERS = 1000


def run_outbound_benchmark(count: int, echo=print) -> dict:
    from app import create_app
    from service import i18n
    from service.reminders import send_due_reminders

    workdir = Path(tempfile.mkdtemp(prefix="assistant-bench-out-"))
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    settings = load_settings(var_dir=workdir, database_url=f"sqlite:///{workdir / 'bench.db'}", simulator_url=sim_url)
    simulator = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "simulator", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "VAR_DIR": str(workdir), "DATABASE_URL": settings.database_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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

        started = time.perf_counter()
        counts = send_due_reminders(runtime, due_at)
        send_seconds = time.perf_counter() - started
        received = requests.get(sim_url + "/sim/messages", timeout=60).json()
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)

    report = {
        "reminders": count,
        "languages": len(languages),
        "render_only_per_second": round(count / render_seconds),
        "send_seconds": round(send_seconds, 1),
        "sent_per_second": round(counts.get("sent", 0) / send_seconds, 1),
        "sent": counts.get("sent", 0),
        "reached_simulator": len(received),
        "duplicated": len(received) - len({(m["to"], m["body"]) for m in received}),
    }
    echo(f"Outbound: {count} reminders in {report['languages']} languages")
    echo(f"  rendering alone:          {report['render_only_per_second']} texts per second")
    echo(
        f"  claim, render, store and hand to the simulator: {report['send_seconds']} s "
        f"({report['sent_per_second']} per second, one process)"
    )
    echo(f"  sent {report['sent']}, reached the simulator {report['reached_simulator']}")
    return report


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
