"""Builds and runs the parts outside the web app: Rasa's environment, model and servers.

Rasa 3.6 pins old SQLAlchemy and twilio, so it lives in its own virtual
environment and its own processes. The environment is keyed by a hash of its
requirements and the model by a hash of its training data, so each is built
once and rebuilt only when its inputs change.
"""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from service.settings import ROOT
from store.db import create_database

RASA_VERSION = "rasa==3.6.21"
RASA_SDK_VERSION = "rasa-sdk==3.6.2"
BOT_DIR = ROOT / "bot"
NLU_DIR = ROOT / "nlu_data"
MODELS_DIR = Path(os.environ.get("MODELS_DIR", ROOT / "models"))
CACHE_DIR = Path(os.environ.get("ASSISTANT_CACHE", Path.home() / ".cache" / "tenant-access-assistant"))


class StackError(RuntimeError):
    pass


class Progress:
    """One line per long step, with a ticking clock so a slow install never looks stuck."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.interactive = stream.isatty()

    def run(self, title: str, command: list[str], log_path: Path, env: dict | None = None, cwd: Path = ROOT) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with log_path.open("w", encoding="utf-8") as log_file:
            process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd)
            stop = threading.Event()
            ticker = threading.Thread(target=self._tick, args=(title, started, stop), daemon=True)
            ticker.start()
            code = process.wait()
            stop.set()
            ticker.join()
        elapsed = time.monotonic() - started
        if code != 0:
            self._line(f"✗ {title} failed after {elapsed:.0f}s; last lines of {log_path}:")
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
            self.stream.write("\n".join(tail) + "\n")
            raise StackError(f"{title} failed (see {log_path})")
        self._line(f"✓ {title} ({elapsed:.0f}s)")

    def note(self, text: str) -> None:
        self._line(text)

    def _tick(self, title: str, started: float, stop: threading.Event) -> None:
        if not self.interactive:
            self.stream.write(f"… {title}\n")
            self.stream.flush()
            stop.wait()
            return
        frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
        index = 0
        while not stop.wait(0.2):
            elapsed = int(time.monotonic() - started)
            self.stream.write(f"\r{frames[index % len(frames)]} {title} {elapsed // 60}m{elapsed % 60:02d}s ")
            self.stream.flush()
            index += 1

    def _line(self, text: str) -> None:
        prefix = "\r\033[K" if self.interactive else ""
        self.stream.write(prefix + text + "\n")
        self.stream.flush()


def _hash_files(paths: list[Path], extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def rasa_venv_dir() -> Path:
    key = _hash_files([BOT_DIR / "requirements.txt"], RASA_VERSION + RASA_SDK_VERSION + sys.version.split()[0])
    return CACHE_DIR / f"rasa-venv-{key}"


def rasa_bin(name: str = "rasa") -> Path:
    return rasa_venv_dir() / "bin" / name


def ensure_rasa_venv(progress: Progress) -> Path:
    """Create Rasa's environment unless one for these exact requirements exists."""
    venv = rasa_venv_dir()
    marker = venv / ".complete"
    if marker.exists():
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    log = CACHE_DIR / "logs" / "rasa-install.log"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    progress.run("Creating Rasa's environment", [sys.executable, "-m", "venv", str(venv)], log)
    progress.run("Updating pip", pip + ["--upgrade", "pip", "wheel"], log)
    # Rasa 3.6.21 declares Python <3.11 but runs on 3.11: install it without its own pins...
    progress.run(
        "Installing Rasa 3.6.21", pip + ["--no-deps", "--ignore-requires-python", RASA_VERSION, RASA_SDK_VERSION], log
    )
    # ...then its dependency list with the versions that have Python 3.11 wheels.
    progress.run(
        "Installing Rasa's dependencies (first run only, a few minutes)",
        pip + ["-r", str(BOT_DIR / "requirements.txt")],
        log,
    )
    marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))
    return venv


def training_inputs() -> list[Path]:
    files = [BOT_DIR / "config.yml", BOT_DIR / "domain.yml"]
    files += sorted((BOT_DIR / "data").rglob("*.yml"))
    files += sorted(NLU_DIR.rglob("*.yml"))
    files += [path for path in [BOT_DIR / "components.py"] if path.exists()]
    return files


def model_path() -> Path:
    return MODELS_DIR / f"assistant-{_hash_files(training_inputs(), RASA_VERSION)}.tar.gz"


def ensure_model(progress: Progress) -> Path:
    """Train only when the training data, config or domain changed since the last model."""
    target = model_path()
    if target.exists():
        return target
    ensure_rasa_venv(progress)
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    command = [
        str(rasa_bin()),
        "train",
        "--config",
        str(BOT_DIR / "config.yml"),
        "--domain",
        str(BOT_DIR / "domain.yml"),
        "--data",
        str(BOT_DIR / "data"),
        str(NLU_DIR),
        "--out",
        str(MODELS_DIR),
        "--fixed-model-name",
        target.name.removesuffix(".tar.gz"),
    ]
    progress.run("Training the assistant's model", command, CACHE_DIR / "logs" / "rasa-train.log", env=rasa_env())
    for old in MODELS_DIR.glob("assistant-*.tar.gz"):
        if old != target:
            old.unlink()
    return target


def rasa_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SANIC_HOST": "127.0.0.1",  # the action server listens on loopback only
            "RASA_TELEMETRY_ENABLED": "false",
        }
    )
    env.update(extra or {})
    return env


def _die_with_parent() -> None:
    """Linux: ask the kernel to stop this child when its parent dies, so no Rasa is left behind."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_rasa_server(
    model: Path,
    port: int,
    action_url: str,
    log_dir: Path,
    extra_env: dict | None = None,
    endpoints: Path | None = None,
    log_name: str = "rasa.log",
):
    env = rasa_env({"ACTION_SERVER_URL": action_url, **(extra_env or {})})
    command = [
        str(rasa_bin()), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port), "--model", str(model),
        "--endpoints", str(endpoints or BOT_DIR / "endpoints.yml"), "--credentials", str(BOT_DIR / "credentials.yml"),
    ]  # fmt: skip
    return spawn(command, env, log_dir / log_name)


def scaled_endpoints(settings, action_url: str) -> Path:
    """Rasa's endpoints for scaled mode: trackers in PostgreSQL, conversation locks in Redis.

    With both shared, any of several Rasa servers can take any conversation's next
    message, and two servers never work on one conversation at once. The trackers
    get a database of their own beside ours (Rasa creates it on first start), so
    Rasa's tables never mix with the assistant's migrations.
    """
    database = make_url(settings.database_url)
    if not settings.queue_url.startswith(("redis://", "rediss://")):
        raise StackError("REDIS_URL must be redis:// or rediss:// (host and port) for Rasa's lock store")
    redis = make_url(settings.queue_url)
    endpoints = {"action_endpoint": {"url": action_url}}
    if database.get_backend_name() == "postgresql":
        # Connection options such as sslmode go along; a search_path or a name meant for our own
        # connections does not (Rasa's database has no such schema).
        query = {key: value for key, value in database.query.items() if key not in ("options", "application_name")}
        tracker_database = settings.section("rasa").get("tracker_database") or f"{database.database}_rasa"
        # Made here, once: two Rasa servers starting together would race to make it.
        create_database(settings.database_url, tracker_database)
        endpoints["tracker_store"] = {
            "type": "SQL",
            "dialect": "postgresql",
            "url": database.host or "127.0.0.1",
            "port": database.port or 5432,
            "db": tracker_database,
            "login_db": database.database,
            "username": database.username or "postgres",
            "password": database.password or "",
            **({"query": query} if query else {}),
        }
    endpoints["lock_store"] = {
        "type": "redis",
        "url": redis.host or "127.0.0.1",
        "port": redis.port or 6379,
        "db": int(redis.database or 0),
        "username": redis.username or None,
        "password": redis.password or None,
        "key_prefix": "assistant",
        "use_ssl": redis.drivername == "rediss",
    }
    path = settings.var_dir / "rasa-endpoints.yml"
    # The passwords come from DATABASE_URL / REDIS_URL: the file is made readable by us alone.
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as file:
        file.write(yaml.safe_dump(endpoints, sort_keys=False))
    return path


def start_action_server(port: int, app_url: str, token: str, log_dir: Path):
    env = rasa_env({"ASSISTANT_APP_URL": app_url, "ASSISTANT_TOKEN": token})
    command = [str(rasa_bin()), "run", "actions", "--actions", "bot.actions", "-p", str(port)]
    return spawn(command, env, log_dir / "actions.log")


def port_in_use(port: int) -> bool:
    """Something already listens on this local port."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def spawn(command: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    """A child process logging to a file, stopped by the kernel if this process dies."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Appended to, so a restart keeps the last run's story. The child keeps its own copy of the
    # log's file descriptor; ours can close at once.
    with log_path.open("a") as log_file:
        return subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=ROOT, preexec_fn=_die_with_parent
        )


class Supervisor:
    """Keeps a set of child processes running, replacing any that stop.

    One that stops soon after it started (a bad setting, a database refusing it) is started again
    after a growing pause, so a fault that will not go away costs a start now and then, not a new
    Python process every two seconds and a log that fills the disk.
    """

    SHORT_RUN_SECONDS = 60
    FIRST_PAUSE_SECONDS = 2
    LONGEST_PAUSE_SECONDS = 60

    def __init__(self, start, count: int, clock=time.monotonic):
        self._start, self._clock = start, clock
        self.processes = [start(index) for index in range(count)]
        now = clock()
        self._started_at = [now] * count
        self._pause = [0.0] * count
        self._restart_at = [None] * count

    def check(self, note=lambda text: None) -> None:
        """Call every few seconds: notes each process that stopped, and starts it again when due."""
        now = self._clock()
        for index, process in enumerate(self.processes):
            if process.poll() is None:
                continue
            if self._restart_at[index] is None:
                ran_briefly = now - self._started_at[index] < self.SHORT_RUN_SECONDS
                pause = min(self.LONGEST_PAUSE_SECONDS, max(self.FIRST_PAUSE_SECONDS, 2 * self._pause[index]))
                self._pause[index] = pause if ran_briefly else 0.0
                self._restart_at[index] = now + self._pause[index]
                again = f"again in {self._pause[index]:.0f} s" if self._pause[index] else "again now"
                note(f"process {index + 1} stopped (exit {process.returncode}); starting it {again}")
            if now >= self._restart_at[index]:
                self.processes[index] = self._start(index)
                self._started_at[index], self._restart_at[index] = now, None


def stop(processes) -> None:
    for process in processes:
        if process and process.poll() is None:
            process.terminate()
    for process in processes:
        if process:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
