"""Settings read from the environment: production refuses to start without its secrets,
development generates them once, and check --deploy is clean in production."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from config.local_secrets import load_or_create

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-9f8e7d6c5b",
    "CREDENTIALS_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "ledgerbridge.example.com",
}


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "CREDENTIALS_KEYS", "ALLOWED_HOSTS", "SANDBOX_ENABLED"}}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True, text=True, timeout=120,
    )


def _settings(expression: str, **env: str) -> subprocess.CompletedProcess:
    return _run(["-c", f"import django; django.setup(); from django.conf import settings; print({expression})"], **env)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "CREDENTIALS_KEYS", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_a_secret_naming_it(missing):
    env = {**PRODUCTION, missing: ""}
    result = _settings("settings.DEBUG", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr.strip().splitlines()[-1]


def test_check_deploy_is_clean_with_production_settings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_turns_the_sandbox_off_by_default():
    result = _settings("settings.SANDBOX_ENABLED, 'sandbox' in settings.INSTALLED_APPS", **PRODUCTION)
    assert result.stdout.strip() == "False False"


def test_redis_url_selects_the_redis_broker_and_orm_is_the_default():
    code = "settings.Q_CLUSTER.get('redis'), settings.Q_CLUSTER.get('orm'), settings.Q_CLUSTER['timeout'] < settings.Q_CLUSTER['retry'], settings.Q_CLUSTER['max_attempts']"
    assert _settings(code, REDIS_URL="").stdout.strip() == "None default True 3"
    assert _settings(code, REDIS_URL="redis://127.0.0.1:6379/3").stdout.strip() == "redis://127.0.0.1:6379/3 None True 3"


def test_timeout_must_stay_below_retry():
    result = _settings("1", Q_TIMEOUT="900", Q_RETRY="600")
    assert result.returncode != 0 and "Q_TIMEOUT" in result.stderr


def test_database_url_defaults_to_sqlite_in_the_project_folder():
    result = _settings("settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME']", DATABASE_URL="")
    engine, name = result.stdout.strip().split()
    assert engine == "django.db.backends.sqlite3"
    assert Path(name) == ROOT / "db.sqlite3"


def test_development_secrets_are_generated_once(tmp_path):
    path = tmp_path / ".local" / "secrets.env"
    first = load_or_create(path, ["SECRET_KEY", "CREDENTIALS_KEYS"])
    second = load_or_create(path, ["SECRET_KEY", "CREDENTIALS_KEYS"])
    assert first == second
    assert len(first["SECRET_KEY"]) >= 50
    Fernet(first["CREDENTIALS_KEYS"].encode())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_value_set_in_the_environment_is_not_generated(tmp_path):
    path = tmp_path / "secrets.env"
    load_or_create(path, ["CREDENTIALS_KEYS"])
    assert "SECRET_KEY" not in path.read_text()
