"""Settings for Memory Console.

Every value that differs between a laptop and production comes from an
environment variable with a safe local default; README.md documents each.
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=False.")
    SECRET_KEY = "django-insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "crispy_forms",
    "crispy_bootstrap5",
    "memory_console",  # template filters, the cluster cache's table, `qcluster` (before django_q: its checks first)
    "django_q",
    "accounts",
    "stores",
    "traits",
    "profiles",
    "identity",
    "conversations",
    "imports",
    "workspace",  # what spans the apps: store pages, store create/delete, trait deletes, demo data
    "axes",  # sign-in throttling (settings at the end)
]

MIDDLEWARE = [
    "memory_console.metrics_middleware.RequestMetricsMiddleware",  # first: times the whole answer
    "memory_console.probes.ProbesMiddleware",  # health checks and /metrics: any Host, plain HTTP
    "django.middleware.security.SecurityMiddleware",
    "memory_console.api_errors.ApiErrorsAsJson",  # /api/: every error answer is JSON
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "memory_console.htmx_auth.HtmxSignInRedirect",  # a signed-out htmx request goes to the sign-in page
    "memory_console.busy.DatabaseBusyMiddleware",  # SQLite's "database is locked": 503 with the reason
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a locked-out sign-in into its page
]

ROOT_URLCONF = "memory_console.urls"

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
                "accounts.context_processors.console",
            ],
        },
    },
]

WSGI_APPLICATION = "memory_console.wsgi.application"

# DATABASE_URL: sqlite:///path or postgres://user:pass@host:port/name (psycopg 3).
DEFAULT_SQLITE = BASE_DIR / "var" / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The statements `memory_console.rawsql` writes by hand (the Twilio webhook's) bind their
    # parameters on the server, and psycopg prepares one that a connection has run this many times
    # (Django's own queries bind on the client and are never prepared). Behind PgBouncer in
    # transaction mode older than 1.21, or without its max_prepared_statements, set it to "off".
    _prepare = os.environ.get("DB_PREPARE_THRESHOLD", "5").strip().lower()
    if _prepare not in ("", "off", "none") and not _prepare.isdigit():
        raise ImproperlyConfigured(f"DB_PREPARE_THRESHOLD must be a whole number or off, not {_prepare!r}.")
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        None if _prepare in ("", "off", "none") else int(_prepare)
    )
# The alias of django-q2's own database on SQLite (memory_console/routers.py sends its models there).
QUEUE_DATABASE = "queue"


def sqlite_queue_name(data_name: str) -> str:
    """The SQLite file of django-q2's tables for the data file `data_name`: beside it, with `.queue`
    before its extension (var/db.sqlite3 -> var/db.queue.sqlite3); in memory for an in-memory one."""
    if data_name == ":memory:":
        return data_name
    path = Path(data_name)
    return str(path.with_name(f"{path.stem}.queue{path.suffix}"))


def sqlite_configure(database: dict) -> None:
    # WAL lets the web process read while the worker writes; the busy timeout
    # makes concurrent writers wait instead of failing with "database is locked".
    database["CONN_MAX_AGE"] = 0
    database.setdefault("OPTIONS", {}).update(
        {
            "timeout": float(os.environ.get("SQLITE_BUSY_TIMEOUT", "20")),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    if database["NAME"] != ":memory:":
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)


if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    sqlite_configure(DATABASES["default"])
    # django-q2's tables (its queue, task results and schedules) get a SQLite file of their own: a
    # write to the data file (an import's steps, anyone's) holds its lock for a moment, and queueing
    # a task or recording a result must not wait for it. `manage.py migrate --database queue` creates them
    # (`make run` and the test setup do). QUEUE_DATABASE_URL names another file instead.
    DATABASES[QUEUE_DATABASE] = dj_database_url.parse(
        os.environ.get("QUEUE_DATABASE_URL") or f"sqlite:///{sqlite_queue_name(DATABASES['default']['NAME'])}",
        conn_health_checks=True,
    )
    if DATABASES[QUEUE_DATABASE]["ENGINE"] == "django.db.backends.sqlite3":
        if DATABASES[QUEUE_DATABASE]["NAME"] != ":memory:" and (
            Path(DATABASES[QUEUE_DATABASE]["NAME"]).resolve() == Path(DATABASES["default"]["NAME"]).resolve()
        ):
            raise ImproperlyConfigured("QUEUE_DATABASE_URL must name another SQLite file than DATABASE_URL.")
        sqlite_configure(DATABASES[QUEUE_DATABASE])
DATABASE_ROUTERS = ["memory_console.routers.QueueRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes checks every sign-in first (it needs the request: tests sign in with force_login or
# through the form, not client.login); the API's bearer keys do not go through these backends.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
# Uploaded CSV files and their progress files. Web servers and workers must share this directory.
IMPORTS_DIR = Path(os.environ.get("IMPORTS_DIR", MEDIA_ROOT / "imports"))
# Uploads over 2.5 MB stream to a temporary file (never held whole in memory); a CSV of a million
# rows can be a few hundred MB.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The largest request body other than an uploaded file (a JSON API body, a console form): bigger
# ones answer 413 in the API. identify-batch takes up to 1,000 items; a realistic item (email, phone
# and chat ids, four Contact traits, two events with six and two properties) is about 760 bytes of
# JSON, so a full batch is about 0.8 MB: 10 MiB leaves room for items of about 10 KB each.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(10 * 1024 * 1024)))
IMPORT_MAX_UPLOAD_BYTES = int(os.environ.get("IMPORT_MAX_UPLOAD_BYTES", str(1024 * 1024 * 1024)))
# Status callbacks (conversations/callbacks.py) to loopback, private, link-local and reserved
# addresses: refused by default (any account's administrator sets URLs: the console's own network
# must not be reachable through them); `True` where only trusted people set them and receivers are
# on your own network.
STATUS_CALLBACKS_PRIVATE_ADDRESSES = env_bool("STATUS_CALLBACKS_PRIVATE_ADDRESSES", False)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Security: strict by default when DEBUG=False (`manage.py check --deploy` passes).
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# Behind a reverse proxy: trust its X-Forwarded-Proto (https) and X-Forwarded-Host, so the URLs the
# console builds, and the URL a Twilio webhook's signature is checked against, are the ones the
# client called. Only when the proxy sets (or strips) these headers itself.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)

# django-q2: the ORM broker by default (no extra service), in the queue database on SQLite (above);
# REDIS_URL switches the broker to Redis (task results and schedules stay in the ORM).
#
# Q_CLUSTER_NAME names the queue: the ORM broker's rows and the Redis list and keys carry it, so two
# deployments sharing one Redis (or one database) need different names, and every web and worker
# process of one deployment the same. Q_QUEUE_LIMIT is how many tasks a cluster takes ahead of its
# workers (django-q2's `queue_limit`; its pusher holds one more while that queue is full): 1 by
# default, so an idle cluster finds waiting work in the broker, not in a busy cluster's local queue,
# and a killed cluster loses at most a couple of tasks (import recovery sends those again; README,
# "Running several workers").
_Q_NAME = os.environ.get("Q_CLUSTER_NAME", "memory_console").strip()
if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", _Q_NAME):
    raise ImproperlyConfigured(f"Q_CLUSTER_NAME must be 1-64 letters, digits, '.', '_' or '-', not {_Q_NAME!r}.")
Q_CLUSTER = {
    "name": _Q_NAME,
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": int(os.environ.get("Q_TIMEOUT", "3600")),
    "retry": int(os.environ.get("Q_RETRY", "3700")),
    "queue_limit": int(os.environ.get("Q_QUEUE_LIMIT", "1")),
    "max_attempts": 1,
    "catch_up": False,
    "label": "Background tasks",
    "orm": QUEUE_DATABASE if QUEUE_DATABASE in DATABASES else "default",
    "poll": 0.5,
    # Each cluster reports itself (workers, tasks waiting in its local queue) every half second with
    # a 3-second expiry; the readiness check and import recovery read these reports, so they are
    # kept where every process sees them: the `cluster` cache below.
    "cache": "cluster",
}
if Q_CLUSTER["queue_limit"] < 1:
    raise ImproperlyConfigured("Q_QUEUE_LIMIT must be 1 or more.")
if os.environ.get("REDIS_URL"):
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = os.environ["REDIS_URL"]

# The `cluster` cache holds the clusters' reports (above), shared by every process of the deployment:
# in Redis with the Redis broker; else in a PostgreSQL table (`createcachetable`, run by migrate);
# else, on SQLite (one host), in files beside the data file (var/db.sqlite3 -> var/db.cluster-cache),
# so two SQLite consoles run from one checkout (a test's workers and `make run`'s) never read each
# other's workers.
if os.environ.get("REDIS_URL"):
    _CLUSTER_CACHE = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"]}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _CLUSTER_CACHE = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "memory_console_cluster"}
else:
    _CLUSTER_CACHE = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ.get("Q_CLUSTER_CACHE_DIR")
        or (
            str(BASE_DIR / "var" / "cluster-cache")
            if DATABASES["default"]["NAME"] == ":memory:"
            else str(Path(DATABASES["default"]["NAME"]).with_suffix(".cluster-cache"))
        ),
    }
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "cluster": {**_CLUSTER_CACHE, "KEY_PREFIX": _Q_NAME, "TIMEOUT": 60},
}

# GET /metrics (workspace/metrics.py; README, "Metrics"): answered to loopback clients, or to anyone
# sending `Authorization: Bearer <METRICS_TOKEN>` when it is set.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"expected_403": {"()": "memory_console.logfilters.ExpectedForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # A refusal by the access rules (PermissionDenied, 403) is logged on one line, not a traceback.
    "loggers": {"django.request": {"filters": ["expected_403"]}},
}

# Sign-in throttling (django-axes, https://django-axes.readthedocs.io/): after AXES_FAILURE_LIMIT
# failed sign-ins for one email from one IP address, that pair is refused for AXES_COOLOFF_MINUTES
# (a failed try meanwhile starts the wait again); a successful sign-in clears the count. The IP
# address is REMOTE_ADDR: behind a reverse proxy that is the proxy's, so the lock is per email.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.auth_views.axes_username"
AXES_LOCKOUT_CALLABLE = "accounts.auth_views.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # failures are what it counts; successful sign-ins are not logged
AXES_VERBOSE = False

# Memory extraction (issue 17; README, "Memory extraction"): the LLM extractor, for any
# OpenAI-compatible chat-completions endpoint, runs when MEMORY_LLM_BASE_URL (the API root, e.g.
# https://api.openai.com/v1 or http://localhost:11434/v1) and MEMORY_LLM_MODEL are both set; else the
# built-in extractor (rules, no network). MEMORY_LLM_API_KEY may stay empty for a local server;
# MEMORY_LLM_TIMEOUT is seconds per call (one retry: at most twice that per extraction).
MEMORY_LLM_BASE_URL = os.environ.get("MEMORY_LLM_BASE_URL", "").strip()
MEMORY_LLM_MODEL = os.environ.get("MEMORY_LLM_MODEL", "").strip()
MEMORY_LLM_API_KEY = os.environ.get("MEMORY_LLM_API_KEY", "").strip()
try:
    MEMORY_LLM_TIMEOUT = float(os.environ.get("MEMORY_LLM_TIMEOUT", "").strip() or "30")
except ValueError:
    raise ImproperlyConfigured("MEMORY_LLM_TIMEOUT must be a number of seconds.") from None
if not 0 < MEMORY_LLM_TIMEOUT <= 600:
    raise ImproperlyConfigured("MEMORY_LLM_TIMEOUT must be more than 0 and at most 600 seconds.")
if MEMORY_LLM_BASE_URL and not MEMORY_LLM_BASE_URL.lower().startswith(("http://", "https://")):
    raise ImproperlyConfigured("MEMORY_LLM_BASE_URL must be an http:// or https:// URL.")
if bool(MEMORY_LLM_BASE_URL) != bool(MEMORY_LLM_MODEL):
    raise ImproperlyConfigured("MEMORY_LLM_BASE_URL and MEMORY_LLM_MODEL are set together (or neither).")
