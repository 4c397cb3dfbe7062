"""Omni Studio settings.

With no environment at all the studio runs on one machine: SQLite, django-q2 on
its database broker and media files in a local data folder. Every variable that
changes that is read here, through studio.lib.env, and listed in the README.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from studio.lib.env import env_bool, env_float, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("STUDIO_DATA_DIR") or BASE_DIR / "data").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, or a key generated once and kept in the data folder."""
    if key := env_str("DJANGO_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
# Rotating the secret key: put the new one in DJANGO_SECRET_KEY and the old one here
# (comma-separated, newest first). Sessions, password-reset links, callback URLs already
# given to the provider and team keys encrypted with the old key keep working; drop the
# old key once `manage.py rotatekeys` has run and in-flight generations have finished.
SECRET_KEY_FALLBACKS = env_list("STUDIO_SECRET_KEY_FALLBACKS", [])
DEBUG = env_bool("DJANGO_DEBUG", False)

# The address people use to reach the studio. When it is https, cookies are
# secure, HSTS is on and the provider may call us back.
STUDIO_PUBLIC_URL = env_url("STUDIO_PUBLIC_URL")
PUBLIC_IS_HTTPS = STUDIO_PUBLIC_URL.startswith("https://")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
if STUDIO_PUBLIC_URL:
    _public_host = urlsplit(STUDIO_PUBLIC_URL).hostname or ""
    if _public_host and _public_host not in ALLOWED_HOSTS:
        ALLOWED_HOSTS.append(_public_host)
    CSRF_TRUSTED_ORIGINS = [STUDIO_PUBLIC_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_q",
    "axes",
    "studio.accounts",
    "studio.videos",
    "studio.ops",
]

MIDDLEWARE = [
    # First: /healthz answers before the host check, the https redirect and the session.
    "studio.ops.health.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before whitenoise, so that static files get the policies too.
    "studio.lib.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session (it may read it), before CommonMiddleware (which may
    # redirect): the language from the cookie or Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in person's saved language wins over the cookie and Accept-Language.
    "studio.accounts.languages.PersonLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"

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
                "studio.accounts.context_processors.team",
                "studio.accounts.context_processors.languages",
                "studio.videos.keys.demo_mode",
            ],
        },
    },
]

# Database: SQLite in the data folder unless DATABASE_URL says otherwise.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    except Exception as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL we understand: {exc}") from None
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "studio.sqlite3",
            "OPTIONS": {
                # WAL lets the web server read while the worker writes; the busy
                # timeout and IMMEDIATE transactions make writers queue politely
                # instead of failing with "database is locked".
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=10000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # Keep the connection between requests: opening one and running the
            # PRAGMAs above costs about 1 ms, more than a signed-in page's queries.
            "CONN_MAX_AGE": 600,
            # Tests get a file too, not SQLite's shared in-memory database: there a
            # writer that finds the table locked fails at once, whatever the busy
            # timeout, and the tests run the sweep's threads against it. One file
            # per test process, so two runs in one checkout keep apart.
            "TEST": {"NAME": DATA_DIR / f"test-{os.getpid()}.sqlite3"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (studio.accounts.throttle): lock the pair (username, address)
# after 5 failures, and the account from anywhere after 20, for 15 minutes after
# the last failure. Locking on the pair means one mistyped account never locks out
# a whole office that shares an address; the per-account limit slows guessing
# spread over many addresses, and ends with the cool-off.
AXES_HANDLER = "studio.accounts.throttle.SignInThrottle"
AXES_FAILURE_LIMIT = env_int("STUDIO_LOGIN_FAILURE_LIMIT", 5, minimum=1)
STUDIO_LOGIN_ACCOUNT_FAILURE_LIMIT = env_int("STUDIO_LOGIN_ACCOUNT_FAILURE_LIMIT", 20, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("STUDIO_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_CALLABLE = "studio.accounts.views.locked_out"
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = env_int("STUDIO_PROXY_COUNT", 0, minimum=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# Languages: English and Simplified Chinese. The first visit follows the
# browser's Accept-Language; a choice made in the account menu is kept in the
# language cookie and, for a signed-in person, on their profile.
LANGUAGE_CODE = "en"
# Each language named in its own script, as the switcher shows them.
LANGUAGES = [("en", "English"), ("zh-hans", "中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Templates name date formats (date:"DATE_FORMAT"); studio/formats/en keeps the English ones.
FORMAT_MODULE_PATH = ["studio.formats"]
TIME_ZONE = env_str("STUDIO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# No USE_THOUSAND_SEPARATOR: it would also group numbers templates write into
# attributes and URLs; pages group the numbers people read with intcomma or
# floatformat:"g", which follow the active language.

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STUDIO_STATIC_ROOT") or BASE_DIR / "staticfiles")

# --- Storage of videos and posters -------------------------------------------
# Videos are private: they are only ever served by an access-checked view, so
# there is deliberately no MEDIA_URL route. Every write, read, size and delete of
# them goes through storages["default"]: the local data folder (MEDIA_ROOT) by
# default, an S3-compatible bucket when STUDIO_STORAGE_URL or STUDIO_S3_BUCKET
# is set (studio.lib.storage_url reads them; studio.videos.objectstorage is the
# backend, django-storages' S3Storage). `manage.py movefiles` moves an install's
# files between the two. MEDIA_ROOT stays the local room for downloads in progress.
from studio.lib.storage_url import s3_options  # noqa: E402

MEDIA_ROOT = DATA_DIR / "media"
STUDIO_S3 = s3_options()
if STUDIO_S3:
    # Presigned links last this long (the player asks again through the view when one ran out).
    STUDIO_S3["querystring_expire"] = env_int("STUDIO_S3_URL_SECONDS", 900, minimum=1)
_media_storage = (
    {"BACKEND": "studio.videos.objectstorage.MediaS3Storage", "OPTIONS": STUDIO_S3}
    if STUDIO_S3
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
)
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# With S3 the media view streams the bytes from the bucket itself (Range
# included) when STUDIO_S3_PROXY is on; otherwise, after its access check, it
# redirects to a short-lived presigned link and the bucket answers Range.
STUDIO_S3_PROXY = env_bool("STUDIO_S3_PROXY", False)
# The redirect, for any backend whose url() is a short-lived signed link: the
# default with S3 unless proxied.
STUDIO_MEDIA_REDIRECT = env_bool("STUDIO_MEDIA_REDIRECT", bool(STUDIO_S3) and not STUDIO_S3_PROXY)
if STUDIO_S3_PROXY and STUDIO_MEDIA_REDIRECT:
    raise ImproperlyConfigured("STUDIO_S3_PROXY=1 streams through the studio: unset STUDIO_MEDIA_REDIRECT.")
# Behind nginx, the media view can hand the bytes over with X-Accel-Redirect:
# set this to the internal location that maps to MEDIA_ROOT (e.g. /protected-media/).
STUDIO_X_ACCEL_REDIRECT_PREFIX = env_str("STUDIO_X_ACCEL_REDIRECT_PREFIX")
if STUDIO_S3 and STUDIO_X_ACCEL_REDIRECT_PREFIX:
    raise ImproperlyConfigured(
        "STUDIO_X_ACCEL_REDIRECT_PREFIX is for files on the local disk; with S3 storage leave it unset."
    )
# --- End of storage ----------------------------------------------------------

# E-mail: printed to the console unless an SMTP host is given.
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Omni Studio <studio@localhost>")

# Background work: django-q2 on the database unless REDIS_URL is set.
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss", "unix"))
Q_CLUSTER = {
    "name": "studio",
    "workers": env_int("STUDIO_WORKERS", 2, minimum=1),
    # A task that runs longer than `timeout` is killed. On the database broker
    # an unacknowledged task is handed out again after `retry` seconds, so
    # retry stays above timeout and attempts are bounded. Every task is safe to
    # run twice anyway: Generation rows are the truth.
    "timeout": 300,
    "retry": 360,
    "max_attempts": 3,
    "save_limit": 500,
    "ack_failures": True,
    "label": "Background tasks",
    # Nothing is scheduled (the sweep is its own process, `manage.py sweep`):
    # no scheduler reading the schedule table every 30 s.
    "scheduler": False,
}
# Nothing waits on this queue for long: creates go to the sweeper's submitter at
# commit, and a callback's poll wakes the sweeper too. So the database broker
# looks for a task every 10 s (6 queries a minute at rest, not 60), and the guard
# checks its workers every 10 s (a task's timeout is counted in those steps; the
# cluster's status, kept 3 s, shows in `qinfo` for part of each cycle only).
Q_CLUSTER["guard_cycle"] = 10
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 10

# The cache holds rendered gallery cards ({% gallery_cards %} in gallery_tags.py), keyed
# on everything a card shows, so an entry is never stale, only unused. In memory per
# process by default; shared through Redis when REDIS_URL is set.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "KEY_PREFIX": "studio",
        "OPTIONS": {"MAX_ENTRIES": 5000},
    },
}
if REDIS_URL:
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "studio",
    }

# The provider. Without any key the studio runs the built-in demo provider.
EVOLINK_API_KEY = env_str("EVOLINK_API_KEY")
EVOLINK_BASE_URL = env_url("EVOLINK_BASE_URL", "https://api.evolink.ai")
EVOLINK_CONNECT_TIMEOUT = env_float("EVOLINK_CONNECT_TIMEOUT", 10.0)
EVOLINK_READ_TIMEOUT = env_float("EVOLINK_READ_TIMEOUT", 30.0)
# Keys that encrypt team API keys at rest (Fernet). The first encrypts, all of
# them decrypt, so a new key can be put in front and old ones retired later.
# Without any, a key derived from SECRET_KEY is used.
STUDIO_ENCRYPTION_KEYS = env_list("STUDIO_ENCRYPTION_KEYS", [])
# Demo mode: the port the built-in demo provider listens on inside runstudio.
STUDIO_DEMO_PROVIDER_PORT = env_int("STUDIO_DEMO_PROVIDER_PORT", 8765, minimum=1)
# Result URLs on private or loopback addresses are refused unless this is set
# (the demo provider needs it).
STUDIO_ALLOW_PRIVATE_RESULT_URLS = env_bool("STUDIO_ALLOW_PRIVATE_RESULT_URLS", False)
STUDIO_MAX_VIDEO_BYTES = env_int("STUDIO_MAX_VIDEO_MB", 500, minimum=1) * 1024 * 1024
# A download ends: each read waits at most the read timeout, and the whole of it
# at most the largest file allowed at this slowest rate (500 MB at 1 MB/s: 500 s).
STUDIO_DOWNLOAD_MIN_KBPS = env_float("STUDIO_DOWNLOAD_MIN_KBPS", 1024.0)
if STUDIO_DOWNLOAD_MIN_KBPS <= 0:
    raise ImproperlyConfigured("STUDIO_DOWNLOAD_MIN_KBPS must be above 0.")
STUDIO_DOWNLOAD_READ_TIMEOUT = env_float("STUDIO_DOWNLOAD_READ_TIMEOUT", 30.0)
# How often an open gallery or video page asks whether anything changed (htmx's
# "every 4s"). Not read from the environment: each ask is one indexed query, and
# only the tests shorten it, so that a browser test waits less for what it watches.
STUDIO_LIVE_REFRESH_SECONDS = 4
# The sweep that polls in-flight generations: how often it runs, how many
# polls it makes at once (each thread holds a database connection while it
# works) and the shortest wait before a first poll.
STUDIO_SWEEP_INTERVAL = env_float("STUDIO_SWEEP_INTERVAL", 3.0)
# With nothing in flight the sweeper looks this seldom: new work wakes it at once
# (studio.videos.wakeup), so this only bounds what a lost wake-up costs.
STUDIO_SWEEP_IDLE_INTERVAL = env_float("STUDIO_SWEEP_IDLE_INTERVAL", 60.0)
# Creates sent at once by the sweeper's submitter (studio.videos.submitter).
STUDIO_SUBMIT_THREADS = env_int("STUDIO_SUBMIT_THREADS", 16, minimum=1)
STUDIO_SWEEP_THREADS = env_int("STUDIO_SWEEP_THREADS", 32, minimum=1)
# Finished videos are saved apart from the polls, this many at once per sweeper
# process (studio.videos.saving): each save decodes a frame (CPU) and holds a
# decoder (memory), so about the number of cores, not the poll thread count.
STUDIO_SAVE_THREADS = env_int("STUDIO_SAVE_THREADS", 3, minimum=1)
STUDIO_MIN_POLL_SECONDS = env_float("STUDIO_MIN_POLL_SECONDS", 3.0)
# A create whose answer was lost is sent again with the same Idempotency-Key
# (the generation's code), at most once per STUDIO_UNKNOWN_RETRY_SECONDS; a
# gateway that honours the key answers with the original task. 0 for one that
# does not: such a generation then waits for a person ("outcome unknown").
STUDIO_IDEMPOTENT_CREATES = env_bool("STUDIO_IDEMPOTENT_CREATES", True)
STUDIO_UNKNOWN_RETRY_SECONDS = env_int("STUDIO_UNKNOWN_RETRY_SECONDS", 30, minimum=1)
# Callbacks need an https public URL; tests allow plain http to a live server.
STUDIO_CALLBACKS_ALLOW_HTTP = env_bool("STUDIO_CALLBACKS_ALLOW_HTTP", False)
# Price of 1,000 output tokens in US dollars, for the estimate before submit.
STUDIO_USD_PER_1K_TOKENS = env_float("STUDIO_USD_PER_1K_TOKENS", 0.015)
STUDIO_TOKENS_PER_SECOND = env_int("STUDIO_TOKENS_PER_SECOND", 5792, minimum=1)

# Security. Production (DEBUG off and an https public URL) gets secure cookies
# and HSTS; the proxy header is trusted only when the proxy says it sets it.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PUBLIC_IS_HTTPS
CSRF_COOKIE_SECURE = PUBLIC_IS_HTTPS
LANGUAGE_COOKIE_SECURE = PUBLIC_IS_HTTPS
LANGUAGE_COOKIE_HTTPONLY = True  # scripts read <html lang>, never the cookie
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PUBLIC_IS_HTTPS:
    SECURE_SSL_REDIRECT = env_bool("STUDIO_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("STUDIO_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("STUDIO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("STUDIO_HSTS_PRELOAD", True)
if env_bool("STUDIO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

# Operations (studio.ops). /healthz fails when the sweeper's heartbeat is older than
# this many seconds (0: the age is reported but never fails it). The sweeper runs the
# housekeeping (expired sessions, old invitations and sign-in records, stale temporary
# files) every STUDIO_HOUSEKEEPING_INTERVAL seconds, on one machine of many (0: never).
STUDIO_HEALTH_SWEEP_MAX_AGE = env_int("STUDIO_HEALTH_SWEEP_MAX_AGE", 300, minimum=0)
STUDIO_HOUSEKEEPING_INTERVAL = env_int("STUDIO_HOUSEKEEPING_INTERVAL", 3600, minimum=0)
STUDIO_INVITATION_KEEP_DAYS = env_int("STUDIO_INVITATION_KEEP_DAYS", 30, minimum=0)
STUDIO_ACCESS_LOG_KEEP_DAYS = env_int("STUDIO_ACCESS_LOG_KEEP_DAYS", 90, minimum=1)

# Every handler redacts the secrets some paths carry (callback and invitation
# tokens; see studio.lib.redact), Django's request and server loggers included.
# STUDIO_LOG_FORMAT=json writes one JSON object per line (studio.lib.jsonlog) instead.
STUDIO_LOG_FORMAT = env_str("STUDIO_LOG_FORMAT", "plain").lower()
if STUDIO_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("STUDIO_LOG_FORMAT must be plain or json.")
_JSON_LOGS = STUDIO_LOG_FORMAT == "json"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "studio.lib.redact.RedactSecrets"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
        "json": {"()": "studio.lib.jsonlog.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if _JSON_LOGS else "plain",
            "filters": ["redact_secrets"],
        },
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "json" if _JSON_LOGS else "django.server",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("STUDIO_LOG_LEVEL", "INFO").upper()},
    "loggers": {
        # Django's own handlers (a console one under DEBUG, mail to ADMINS, which
        # the studio does not set) would print paths unredacted: its records go
        # to the root's handler instead.
        "django": {"handlers": [], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # httpx logs every request line at INFO; the URLs carry no secrets but
        # they drown the studio's own messages.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
