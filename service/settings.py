"""Settings: config.yml for behaviour, the environment for secrets and deployment."""

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Settings:
    raw: dict
    var_dir: Path
    database_url: str
    public_url: str
    trust_proxy_headers: bool
    twilio_account_sid: str
    twilio_auth_token: str
    use_simulator: bool
    simulator_url: str
    rasa_url: str
    assistant_token: str
    secret_key: str
    action_server_port: int
    extra: dict = field(default_factory=dict)
    # Redis for scaled mode's job queue; empty is the embedded default (threads in the web process).
    queue_url: str = ""
    # Several Rasa servers in scaled mode (RASA_URLS, comma-separated); else just rasa_url.
    rasa_urls: list[str] = field(default_factory=list)

    def section(self, name: str) -> dict:
        return self.raw.get(name) or {}

    @property
    def scaled(self) -> bool:
        return bool(self.queue_url)

    @property
    def timezone(self) -> str:
        return self.section("service").get("timezone", "Europe/London")

    @property
    def sms_from(self) -> str:
        return self.section("twilio")["sms_from"]

    @property
    def whatsapp_from(self) -> str:
        return self.section("twilio")["whatsapp_from"]

    @property
    def visit_types(self) -> dict:
        return self.section("visit_types")


def load_settings(config_path: Path | None = None, **overrides) -> Settings:
    """Read config.yml, then let the environment and explicit overrides win."""
    config_path = Path(config_path or os.environ.get("ASSISTANT_CONFIG") or ROOT / "config.yml")
    raw = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    service = raw.get("service") or {}

    var_dir = Path(overrides.pop("var_dir", None) or os.environ.get("VAR_DIR") or service.get("var_dir", "var"))
    if not var_dir.is_absolute():
        var_dir = ROOT / var_dir
    var_dir.mkdir(parents=True, exist_ok=True)
    local_secrets = _local_secrets(var_dir)

    account_sid = os.environ.get("TWILIO_ACCOUNT_SID", "")
    auth_token = os.environ.get("TWILIO_AUTH_TOKEN", "")
    use_simulator = not (account_sid and auth_token)
    if use_simulator:
        # The simulator checks nothing, but our webhook does: sign with a per-install token.
        account_sid = "AC" + "0" * 32
        auth_token = local_secrets["simulator_auth_token"]
    simulator_port = (raw.get("twilio") or {}).get("simulator_port", 5090)

    values = dict(
        raw=raw,
        var_dir=var_dir,
        database_url=os.environ.get("DATABASE_URL")
        or (raw.get("database") or {}).get("url")
        or f"sqlite:///{var_dir / 'assistant.db'}",
        public_url=(os.environ.get("PUBLIC_URL") or service.get("public_url") or "").rstrip("/"),
        trust_proxy_headers=_flag(os.environ.get("TRUST_PROXY"), service.get("trust_proxy_headers", False)),
        twilio_account_sid=account_sid,
        twilio_auth_token=auth_token,
        use_simulator=use_simulator,
        simulator_url=os.environ.get("TWILIO_SIMULATOR_URL", f"http://127.0.0.1:{simulator_port}"),
        rasa_url=(os.environ.get("RASA_URL") or (raw.get("rasa") or {}).get("url", "")).rstrip("/"),
        assistant_token=os.environ.get("ASSISTANT_TOKEN") or local_secrets["assistant_token"],
        secret_key=os.environ.get("SECRET_KEY") or local_secrets["secret_key"],
        action_server_port=int(
            os.environ.get("ACTION_SERVER_PORT") or (raw.get("rasa") or {}).get("action_server_port", 5055)
        ),
        queue_url=os.environ.get("REDIS_URL") or (raw.get("queue") or {}).get("redis_url") or "",
        rasa_urls=[url.strip().rstrip("/") for url in os.environ.get("RASA_URLS", "").split(",") if url.strip()],
    )
    values.update(overrides)
    return Settings(**values)


def _flag(env_value: str | None, default: bool) -> bool:
    if env_value is None:
        return bool(default)
    return env_value.strip().lower() in ("1", "true", "yes", "on")


def _local_secrets(var_dir: Path) -> dict:
    """Random secrets made once per install and kept out of git, never a guessable default."""
    path = var_dir / "secrets.yml"
    stored = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    stored = stored or {}
    changed = False
    for name in ("simulator_auth_token", "assistant_token", "secret_key"):
        if not stored.get(name):
            stored[name] = secrets.token_hex(24)
            changed = True
    if changed:
        path.write_text(yaml.safe_dump(stored), encoding="utf-8")
        path.chmod(0o600)
    return stored
