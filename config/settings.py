"""Ledgerbridge settings, read from the environment through django-environ.

Every variable is documented in ``.env.example``. Development (``DEBUG=true``, the default)
works on a fresh machine with no configuration at all: SQLite in the project folder,
django-q2's ORM broker, secrets generated once into ``.local/secrets.env``. Production
(``DEBUG=false``) refuses to start without its secrets and turns on every HTTPS protection
that ``manage.py check --deploy`` asks for.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.local_secrets import load_or_create

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(env_file)

DEBUG = env.bool("DEBUG", default=True)

SECRET_NAMES = ["SECRET_KEY", "CREDENTIALS_KEYS"]
_unset = [name for name in SECRET_NAMES if not env.str(name, default="")]
if _unset and not DEBUG:
    raise ImproperlyConfigured(
        f"{', '.join(_unset)} must be set when DEBUG is false (production mode). "
        "See .env.example for how to generate them."
    )
_local = load_or_create(BASE_DIR / ".local" / "secrets.env", _unset) if _unset else {}

SECRET_KEY = env.str("SECRET_KEY", default="") or _local["SECRET_KEY"]
# Comma-separated Fernet keys: the first encrypts, all decrypt (key rotation).
CREDENTIALS_KEYS = env.list("CREDENTIALS_KEYS", default=[]) or [_local["CREDENTIALS_KEYS"]]

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is false (production mode).")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The built-in emulators of Xero, TIMS, Kashflow and Salesforce (served under /sandbox/).
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=DEBUG)
# Where the product reaches the sandbox (the web server's own address in the demo).
SANDBOX_BASE_URL = env.str("SANDBOX_BASE_URL", default="http://127.0.0.1:8000/sandbox")
# Retry-After of the 429s the sandbox's fault injection answers (a minute, as a spent window).
SANDBOX_FAULT_RETRY_AFTER = env.int("SANDBOX_FAULT_RETRY_AFTER", default=60)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "simple_history",
    "django_q",
    "integrations",
    "reconciliation",
]
if SANDBOX_ENABLED:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the qcluster worker share one file: WAL lets readers run beside a
    # writer, IMMEDIATE transactions take the write lock up front instead of failing midway.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # Tests use a file too: with an in-memory database every live-server request thread
    # would share one connection (and its transaction), which no deployment ever does.
    (BASE_DIR / ".local").mkdir(exist_ok=True)
    # One file per test process, so test runs side by side never share one.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(BASE_DIR / ".local" / f"test-db-{os.getpid()}.sqlite3"))
else:
    # One test database per test process (test runs side by side never drop each other's).
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", f"test_{DATABASES['default']['NAME']}_{os.getpid()}")
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Parameters travel beside the statement instead of being quoted into it: a batch's
    # multi-row INSERT binds hundreds of them, and quoting each in Python costs more than sending it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "server_side_binding", env.bool("DATABASE_SERVER_SIDE_BINDING", default=True)
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

LOGIN_URL = "admin:login"

REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.DjangoModelPermissions"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
}

# django-q2 is the executor, not the ledger: attempts, backoff and dedup live in our tables.
# `timeout` must stay below `retry`, or a task still running is delivered a second time.
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "ledgerbridge",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=600),
    "retry": env.int("Q_RETRY", default=720),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    "catch_up": False,
    "save_limit": 1000,
    "ack_failures": True,
    "label": "Task queue",
    # A long run works its later batches in lane processes (integrations/engine/processes.py),
    # which a daemonic worker may not start. They die with the worker that started them.
    "daemonize_workers": False,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1
if Q_CLUSTER["timeout"] >= Q_CLUSTER["retry"]:
    raise ImproperlyConfigured("Q_TIMEOUT must be shorter than Q_RETRY (django-q2 redelivers after retry).")
# A running run silent this long is taken as dead by the reaper (marked crashed, then resumed).
RUN_STALE_AFTER_SECONDS = env.int("RUN_STALE_AFTER_SECONDS", default=300)
# The limits the rate budget keeps per system ("xero=dotted.path,tims=dotted.path"): each
# connector package publishes its tenant's documented ones.
CONNECTOR_RATE_LIMITS = env.dict("CONNECTOR_RATE_LIMITS", default={
    "xero": "connectors.xero.XERO_RATE_LIMITS", "tims": "connectors.tims.TIMS_RATE_LIMITS"})
# Lane processes for the later batches of a long run: auto (on PostgreSQL with more than one
# core), on or off.
FLOW_LANE_PROCESSES = env.str("FLOW_LANE_PROCESSES", default="auto").lower()
if FLOW_LANE_PROCESSES not in ("auto", "on", "off"):
    raise ImproperlyConfigured(f"FLOW_LANE_PROCESSES must be auto, on or off, not {FLOW_LANE_PROCESSES!r}.")

CACHES = {
    "default": (
        env.cache_url_config(REDIS_URL)
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Alerts (run failures, re-authorisation, exhausted retries, exception thresholds).
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Ledgerbridge <ledgerbridge@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", default="")
# Open exceptions of one flow that raise an alert (a flow's alert settings may say otherwise).
ALERT_EXCEPTION_THRESHOLD = env.int("ALERT_EXCEPTION_THRESHOLD", default=50)

# HTTPS protections; all on in production, all overridable for a deployment behind a proxy.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
