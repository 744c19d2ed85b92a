"""`bench`: the embedded default measured end to end with the real model.

The service runs as it does for a user (`serve`, in its own process with Rasa
and the action server), on a throwaway database. This process is the load: a
number of tenants each send a signed message, wait for the reply to reach the
Twilio simulator, and send the next. Latency is from the webhook POST to the
moment the simulator accepted the reply.
"""

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
import yaml
from twilio.request_validator import RequestValidator

from service.settings import ROOT, load_settings

QUESTIONS = ["when is my visit?", "who is coming", "thanks", "what is the visit for", "how long will it take"]


def run_benchmark(runtime, seconds: int, tenants: int, echo=print, scaled: dict | None = None) -> dict:
    """`scaled`: {"database_url": an admin PostgreSQL URL, "redis_url": ...} to measure scaled mode."""
    workdir = Path(tempfile.mkdtemp(prefix="assistant-bench-"))
    ports = {name: free_port() for name in ("app", "rasa", "actions", "simulator")}
    env = _service_env(workdir, ports)
    database = None
    if scaled:
        database = ThrowawayDatabase(scaled["database_url"])
        env.update({"DATABASE_URL": database.url, "REDIS_URL": scaled["redis_url"]})
        empty_redis(scaled["redis_url"])
    try:
        return _run(runtime, seconds, tenants, echo, workdir, ports, env, mode="scaled" if scaled else "embedded")
    finally:
        if database:
            database.drop()


def _run(runtime, seconds, tenants, echo, workdir, ports, env, mode) -> dict:
    settings = load_settings(var_dir=workdir, database_url=env["DATABASE_URL"])
    phones = _seed(settings, tenants)

    # The simulator gets a process of its own, so the load's polling does not share the app's interpreter.
    simulator = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "simulator", "--port", str(ports["simulator"])],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    with (workdir / "serve.log").open("w") as log:
        service = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "serve", "--no-simulator", "--port", str(ports["app"])],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    app_url, sim_url = f"http://127.0.0.1:{ports['app']}", f"http://127.0.0.1:{ports['simulator']}"
    # The simulator imports the whole app before it listens: wait for it, or the first poll fails.
    wait_for_url(sim_url + "/sim/messages")
    load = Load(app_url, sim_url, settings.twilio_auth_token)
    try:
        first_answer = load.first_answer(phones[0], started, timeout=600)
        echo(f"Time from start to first answered message: {first_answer:.1f} s")
        results = load.sustain(phones, seconds)
        memory = _peak_memory(service.pid)
    finally:
        for process in (service, simulator):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    report = {
        "mode": mode,
        "seconds": seconds,
        "tenants": tenants,
        "time_to_first_answer_s": round(first_answer, 1),
        **results,
        "peak_memory_mb": memory,
    }
    _print(report, echo)
    (runtime.settings.var_dir / f"bench-{mode}.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


class ThrowawayDatabase:
    """A PostgreSQL database made for one bench run, and dropped after it with Rasa's trackers."""

    def __init__(self, admin_url: str):
        from sqlalchemy.engine import make_url

        from store.db import create_database

        self.admin_url = admin_url
        self.name = f"assistant_bench_{secrets.token_hex(4)}"
        create_database(admin_url, self.name)
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        from store.db import drop_database

        for name in (self.name, f"{self.name}_rasa"):
            drop_database(self.admin_url, name)


def empty_redis(url: str) -> None:
    from redis import Redis

    connection = Redis.from_url(url)
    connection.flushdb()
    connection.close()


class Load:
    def __init__(self, app_url: str, sim_url: str, auth_token: str):
        self.app_url, self.sim_url = app_url, sim_url
        self.validator = RequestValidator(auth_token)
        self.http = requests.Session()

    def send(self, phone: str, body: str) -> float:
        form = {"From": phone, "To": "+441632960001", "Body": body, "MessageSid": "SM" + secrets.token_hex(16)}
        url = f"{self.app_url}/twilio/inbound"
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, form)}
        began = time.perf_counter()
        answer = requests.post(url, data=form, headers=headers, timeout=15)
        answer.raise_for_status()
        return time.perf_counter() - began

    def replies(self, phone: str, after: int) -> list[dict]:
        answer = requests.get(f"{self.sim_url}/sim/messages", params={"to": phone, "after": after}, timeout=10)
        return answer.json()

    def first_answer(self, phone: str, started: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.send(phone, QUESTIONS[0])
                break
            except requests.RequestException:
                time.sleep(0.2)
        while time.monotonic() < deadline:
            if self.replies(phone, 0):
                return time.monotonic() - started
            time.sleep(0.2)
        raise RuntimeError("no answer from the service; see its serve.log")

    def sustain(self, phones: list[str], seconds: int) -> dict:
        """Each tenant sends, waits for its reply, and sends again, until time is up."""
        latencies, webhook_times, lost, duplicated = [], [], [0], [0]
        # When in the run each slow webhook answer came: a cold process at the start, or load throughout.
        slowest: list[tuple[float, float]] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds
        began_at = time.time()

        def tenant_loop(phone: str, index: int) -> None:
            after = max((m["sequence"] for m in self.replies(phone, 0)), default=0)
            turn = 0
            while time.monotonic() < stop_at:
                sent_at = time.time()
                webhook_time = self.send(phone, QUESTIONS[(index + turn) % len(QUESTIONS)])
                got = self._await_reply(phone, after, timeout=60)
                with lock:
                    webhook_times.append(webhook_time)
                    slowest.append((round(sent_at - began_at, 1), round(webhook_time * 1000)))
                    if not got:
                        lost[0] += 1
                        continue
                    latencies.append(got[0]["accepted_at"] - sent_at)
                    duplicated[0] += len(got) - 1
                after = max(m["sequence"] for m in got)
                turn += 1

        threads = [threading.Thread(target=tenant_loop, args=(phone, i)) for i, phone in enumerate(phones[1:])]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        time.sleep(2)  # let any late duplicate show itself
        return {
            "messages": len(latencies),
            "messages_per_second": round(len(latencies) / elapsed, 1),
            "latency_p50_ms": _percentile(latencies, 50),
            "latency_p99_ms": _percentile(latencies, 99),
            "webhook_p50_ms": _percentile(webhook_times, 50),
            "webhook_p99_ms": _percentile(webhook_times, 99),
            "slowest_webhooks_s_ms": sorted(slowest, key=lambda pair: -pair[1])[:5],
            "lost": lost[0],
            "duplicated": duplicated[0],
        }

    def _await_reply(self, phone: str, after: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.replies(phone, after)
            if found:
                time.sleep(0.05)
                return self.replies(phone, after)
            time.sleep(0.05)
        return []


def _seed(settings, tenants: int) -> list[str]:
    from store.db import make_engine, make_session_factory, transaction, upgrade_database
    from store.models import Operative, Property, Tenant, Visit

    upgrade_database(settings.database_url)
    sessions = make_session_factory(make_engine(settings.database_url))
    phones = [f"+447700900{300 + index:03d}" for index in range(tenants + 1)]
    start = (datetime.now(timezone.utc) + timedelta(days=5)).replace(hour=9, minute=0, second=0, microsecond=0)
    with transaction(sessions) as session:
        operative = Operative(name="Priya Shah", skills=["gas"], working_hours={})
        session.add(operative)
        session.flush()
        for index, phone in enumerate(phones):
            # Checked numbers, already asked about needs: the bench measures the booking path.
            checked = datetime.now(timezone.utc)
            tenant = Tenant(name=f"Bench Tenant{index}", phone=phone, phone_verified_at=checked, needs_asked_at=checked)
            home = Property(address_line1=f"{index} Test Street", town="Leeds", postcode="LS1 1AA", tenant=tenant)
            session.add_all([tenant, home])
            session.flush()
            session.add(
                Visit(
                    reference=f"B-{index:05d}",
                    visit_type="gas_safety_check",
                    tenant_id=tenant.id,
                    property_id=home.id,
                    operative_id=operative.id,
                    slot_start=start,
                    slot_end=start + timedelta(hours=1),
                )
            )
    return phones


def _service_env(workdir: Path, ports: dict) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TWILIO_")}
    env.update(
        {
            "VAR_DIR": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "RASA_URL": f"http://127.0.0.1:{ports['rasa']}",
            "ACTION_SERVER_PORT": str(ports["actions"]),
            "TWILIO_SIMULATOR_URL": f"http://127.0.0.1:{ports['simulator']}",
            "APP_URL": f"http://127.0.0.1:{ports['app']}",
            "LOG_LEVEL": "WARNING",
            "ASSISTANT_CONFIG": str(_bench_config(workdir)),
        }
    )
    return env


def _bench_config(workdir: Path) -> Path:
    """config.yml with the per-number limit lifted: each bench tenant types far faster than a person."""
    source = Path(os.environ.get("ASSISTANT_CONFIG") or ROOT / "config.yml")
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config.setdefault("assistant", {})["max_messages_per_minute"] = 1_000_000
    path = workdir / "config.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def _peak_memory(pid: int) -> dict:
    """VmHWM (peak resident memory) of the service and each process it started: the largest of each kind."""
    found, counts = {}, {}
    direct_children = set(_descendants(pid, depth=1))
    for process_id in [pid, *_descendants(pid)]:
        try:
            status = Path(f"/proc/{process_id}/status").read_text()
            command = Path(f"/proc/{process_id}/cmdline").read_text().replace("\0", " ")
        except OSError:
            continue
        peak_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), None)
        if peak_kb is None:
            continue  # exiting as we looked
        name = _process_name(command, process_id == pid, process_id in direct_children)
        found[name] = max(found.get(name, 0), round(peak_kb / 1024))
        counts[name] = counts.get(name, 0) + 1
    return {(f"{name} (each of {counts[name]})" if counts[name] > 1 else name): mb for name, mb in found.items()}


def _descendants(pid: int, depth: int = 10) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    if depth <= 1:
        return children
    return children + [grandchild for child in children for grandchild in _descendants(child, depth - 1)]


def _process_name(command: str, is_service: bool, is_child: bool) -> str:
    if "run actions" in command:
        return "action server"
    if "rasa run" in command or "/rasa run" in command:
        return "rasa server"
    if "gunicorn" in command:
        # gunicorn's own parent process only watches its workers.
        return "gunicorn master" if is_child else "web worker"
    if "app work" in command:
        return "job worker"
    return "serve" if is_service else "other"


def _percentile(values: list[float], percent: int) -> float | None:
    if len(values) < 2:
        return round(values[0] * 1000, 1) if values else None
    return round(statistics.quantiles(values, n=100, method="inclusive")[percent - 1] * 1000, 1)


def wait_for_url(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _print(report: dict, echo) -> None:
    echo(f"Sustained load ({report['mode']} mode): {report['tenants']} tenants for {report['seconds']} s")
    echo(f"  answered messages:      {report['messages']} ({report['messages_per_second']} per second)")
    echo(
        f"  message in -> reply handed to Twilio: p50 {report['latency_p50_ms']} ms, p99 {report['latency_p99_ms']} ms"
    )
    echo(f"  webhook answer time:    p50 {report['webhook_p50_ms']} ms, p99 {report['webhook_p99_ms']} ms")
    echo(f"  slowest webhook answers (seconds into the run, ms): {report['slowest_webhooks_s_ms']}")
    echo(f"  lost: {report['lost']}, duplicated: {report['duplicated']}")
    echo("Peak memory (MB): " + ", ".join(f"{name} {mb}" for name, mb in report["peak_memory_mb"].items()))
