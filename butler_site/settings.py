"""Butler settings, read from the environment (see `.env.example` for every knob).

The defaults run on SQLite in `BUTLER_DATA_DIR` with nothing installed but Docker.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def env_list(name: str, default: str = "", sep: str = ",") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(sep) if item.strip()]


def secret_from_data_dir(filename: str, make) -> str:
    """Read a generated secret from the data dir, creating it (mode 0600) on first use."""
    path = DATA_DIR / filename
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
    return path.read_text().strip()


DATA_DIR = Path(env_str("BUTLER_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("SECRET_KEY") or secret_from_data_dir(
    "secret_key", lambda: secrets.token_urlsafe(64)
)
DEBUG = env_bool("DEBUG", False)
BUTLER_PORT = env_int("BUTLER_PORT", 8000)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_q",
    "django_htmx",
    "csp",
    "core",
    "accounts",
    "projects",
    "deployments",
    "envvars",
    "web",
]
# The worker (`manage.py qcluster`) serves no pages: without the apps only the web needs, its
# processes (a cluster forks several) each carry less memory.
WEB_ONLY_APPS = {
    "django.contrib.admin",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_htmx",
    "csp",
    "web",
}
WORKER_PROCESS = sys.argv[1:2] == ["qcluster"]
if WORKER_PROCESS:
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in WEB_ONLY_APPS]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "butler_site.middleware.TrailingSlashTolerantMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# The worker answers no URLs: its system checks need not import every view.
ROOT_URLCONF = "butler_site.worker_urls" if WORKER_PROCESS else "butler_site.urls"
ASGI_APPLICATION = "butler_site.asgi.application"

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

# SQLite in WAL mode with a busy timeout and IMMEDIATE transactions, so the web process and
# the worker can both write without "database is locked".
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'butler.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

# Who may register: "open" (anyone who can reach Butler; what the original API's clients
# expect, right for a machine only you reach), "first" (only the first user, who becomes the
# admin; then closed: right for a Butler on the internet), "closed" (accounts are made by the
# admin with manage.py createsuperuser or in /admin/).
BUTLER_SIGNUP = env_str("BUTLER_SIGNUP", "open").lower()

# Brute-force protection: failed logins per username and per client address in a window.
BUTLER_LOGIN_MAX_FAILURES_PER_USER = env_int("BUTLER_LOGIN_MAX_FAILURES_PER_USER", 5)
BUTLER_LOGIN_MAX_FAILURES_PER_IP = env_int("BUTLER_LOGIN_MAX_FAILURES_PER_IP", 20)
BUTLER_LOGIN_LOCKOUT_SECONDS = env_int("BUTLER_LOGIN_LOCKOUT_SECONDS", 900)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(env_str("BUTLER_MEDIA_DIR", str(BASE_DIR / "media"))).resolve()
MEDIA_URL = "/media/"
AVATAR_URL_PREFIX = "/avatars/"
AVATAR_MAX_BYTES = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REDIS_URL = env_str("REDIS_URL")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.VersionedJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "butler_site.exception_handler.butler_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=30),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Butler API",
    "DESCRIPTION": "Deploy Git repositories to containers on your own machine.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"ComponentTypeEnum": "projects.models.Project.Component"},
}

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# django-q2: the ORM broker unless Redis is configured. A deploy is not blindly re-runnable,
# so a task is attempted once; `timeout` stays below `retry`.
BUTLER_TASK_TIMEOUT = env_int("BUTLER_TASK_TIMEOUT", 1800)
BUTLER_WORKERS = env_int("BUTLER_WORKERS", 2)
# Deployments of one user that run at once (0: one less than the workers, at least one), so
# one user's burst across many projects never takes every worker.
BUTLER_MAX_ACTIVE_PER_USER = env_int("BUTLER_MAX_ACTIVE_PER_USER", 0) or max(1, BUTLER_WORKERS - 1)
# A running deployment's worker writes a heartbeat this often; one silent for six beats died.
BUTLER_HEARTBEAT_SECONDS = env_float("BUTLER_HEARTBEAT_SECONDS", 5.0)
Q_CLUSTER = {
    "name": "butler",
    "workers": BUTLER_WORKERS,
    "recycle": 50,
    "timeout": BUTLER_TASK_TIMEOUT,
    "retry": BUTLER_TASK_TIMEOUT + 60,
    "max_attempts": 1,
    "ack_failures": True,
    "save_limit": 250,
    "catch_up": False,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.1

# Git hosts on private networks Butler may clone from (names or CIDR ranges, comma separated):
# a self-hosted Gitea on 10.x. This machine, its Docker networks and link-local addresses are
# refused whatever this says.
BUTLER_GIT_ALLOWED_HOSTS = env_list("BUTLER_GIT_ALLOWED_HOSTS")
# Git: which local folders may be imported (plain paths or file://); empty means remote only.
BUTLER_LOCAL_GIT_ROOTS = [
    str(Path(p).resolve()) for p in env_list("BUTLER_LOCAL_GIT_ROOTS", sep=":")
]

# Content-Security-Policy (django-csp): scripts and styles only from Butler's own static files,
# no inline script, style or eval anywhere in the UI (htmx is configured for that in
# templates/base.html). WebSockets go to the same host ('self' covers ws:/wss: there).
# The Swagger UI at /api/docs is drf-spectacular's page with an inline bootstrap script.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
if env_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# ---- Deployments: the Docker runtime and the pipeline ----
# Dotted path of the runtime backend (the only code that talks to Docker).
BUTLER_RUNTIME = env_str("BUTLER_RUNTIME", "deployments.runtime.docker_engine.DockerRuntime")
# Every Docker object Butler creates carries butler.instance=<this id>, so two Butlers (or a
# test run) sharing one engine never touch each other's containers.
BUTLER_INSTANCE_ID = env_str("BUTLER_INSTANCE_ID") or secret_from_data_dir(
    "instance_id", lambda: secrets.token_hex(6)
)
BUTLER_NETWORK = env_str("BUTLER_NETWORK", "devops-butler-net")
BUTLER_WORK_DIR = Path(env_str("BUTLER_WORK_DIR", str(DATA_DIR / "work"))).resolve()
BUTLER_IMAGE_PREFIX = env_str("BUTLER_IMAGE_PREFIX", "butler")
# Releases per project whose images are kept (they can be rolled back to without a build).
BUTLER_KEEP_RELEASES = env_int("BUTLER_KEEP_RELEASES", 5)
# Containers publish on loopback only: Caddy, on the same host, is what faces the outside.
BUTLER_PUBLISH_IP = env_str("BUTLER_PUBLISH_IP") or "127.0.0.1"
BUTLER_PUBLIC_HOST = env_str("BUTLER_PUBLIC_HOST", "localhost")
BUTLER_CONTAINER_MEMORY = env_str("BUTLER_CONTAINER_MEMORY", "512m")
# An app's own output is kept by Docker (json-file) in at most this many files of this size.
BUTLER_CONTAINER_LOG_MAX_SIZE = env_str("BUTLER_CONTAINER_LOG_MAX_SIZE", "10m")
BUTLER_CONTAINER_LOG_MAX_FILES = env_int("BUTLER_CONTAINER_LOG_MAX_FILES", 3)
# The host firewall that keeps apps and builds away from this machine (runtime/firewall.py):
# auto (apply when Butler can: root, a local engine), on (a deploy fails without it), off.
BUTLER_FIREWALL = env_str("BUTLER_FIREWALL", "auto").lower()
# Ranges no container may reach (comma separated CIDRs); link-local is cloud metadata.
BUTLER_EGRESS_DENY = env_list("BUTLER_EGRESS_DENY", "169.254.0.0/16")
BUTLER_CONTAINER_CPUS = env_float("BUTLER_CONTAINER_CPUS", 1.0)
BUTLER_CLONE_TIMEOUT = env_int("BUTLER_CLONE_TIMEOUT", 120)
BUTLER_CLONE_MAX_MB = env_int("BUTLER_CLONE_MAX_MB", 500)
BUTLER_BUILD_TIMEOUT = env_int("BUTLER_BUILD_TIMEOUT", 1200)
# A Dockerfile's `ADD <url>` is downloaded by Butler (checked, pinned), up to this size in all.
BUTLER_BUILD_FETCH_MAX_MB = env_int("BUTLER_BUILD_FETCH_MAX_MB", 500)
BUTLER_READY_TIMEOUT = env_int("BUTLER_READY_TIMEOUT", 120)
# Base images for generated Dockerfiles; point them at a private mirror if you have one.
BUTLER_PYTHON_IMAGE = env_str("BUTLER_PYTHON_IMAGE", "python:{version}-slim")
BUTLER_NODE_IMAGE = env_str("BUTLER_NODE_IMAGE", "node:{version}-slim")
BUTLER_NGINX_IMAGE = env_str("BUTLER_NGINX_IMAGE", "nginx:alpine")
BUTLER_DEFAULT_PYTHON_VERSION = env_str("BUTLER_DEFAULT_PYTHON_VERSION", "3.11")
BUTLER_DEFAULT_NODE_VERSION = env_str("BUTLER_DEFAULT_NODE_VERSION", "20")
BUTLER_RECONCILE_MINUTES = env_int("BUTLER_RECONCILE_MINUTES", 5)
# PORT given to an app whose image EXPOSEs nothing (the app should listen on $PORT).
BUTLER_DEFAULT_PORT = env_int("BUTLER_DEFAULT_PORT", 8080)
# Compose stacks run as project "<prefix>-<project id>".
BUTLER_COMPOSE_PREFIX = env_str("BUTLER_COMPOSE_PREFIX", "butler")

# ---- The front proxy (Caddy): stable addresses, custom domains, HTTPS ----
# Dotted path of the proxy backend (deployments/proxy); the tests of logic use the fake.
BUTLER_PROXY = env_str("BUTLER_PROXY") or "deployments.proxy.caddy.CaddyProxy"
# Public ports handed to projects at their first deploy, kept until the project is deleted.
BUTLER_PROXY_PORTS = env_str("BUTLER_PROXY_PORTS") or "8100-8999"
# Every project is also <subdomain>.<BUTLER_DOMAIN> on the shared HTTP(S) ports.
BUTLER_DOMAIN = (env_str("BUTLER_DOMAIN") or "localhost").lower().strip(".")
BUTLER_HTTP_PORT = env_int("BUTLER_HTTP_PORT", 8080)
BUTLER_HTTPS_PORT = env_int("BUTLER_HTTPS_PORT", 8443)
# auto: ACME certificates for public names, plain HTTP for local ones (.localhost, .test, …);
# internal: Caddy's own CA for every name; off: plain HTTP everywhere.
BUTLER_TLS = (env_str("BUTLER_TLS") or "auto").lower()
BUTLER_ACME_EMAIL = env_str("BUTLER_ACME_EMAIL")
# Caddy's admin API: a Unix socket (never a TCP port containers could reach).
BUTLER_CADDY_ADMIN = env_str("BUTLER_CADDY_ADMIN") or str(DATA_DIR / "caddy" / "admin.sock")
BUTLER_CADDY_BIN = env_str("BUTLER_CADDY_BIN")  # default: `caddy` beside this Python, or on PATH
# A replaced container keeps serving its in-flight requests this long, then it is removed.
BUTLER_RETIRE_SECONDS = env_float("BUTLER_RETIRE_SECONDS", 10.0)

# ---- Environment variables ----
# Comma-separated Fernet keys: the first encrypts, all decrypt (rotate by prepending a new
# key, then `manage.py envvars_reencrypt`). Generated into the data dir when unset.
BUTLER_ENCRYPTION_KEYS = env_list("BUTLER_ENCRYPTION_KEYS")
BUTLER_DETECT_TIME_BUDGET = env_float("BUTLER_DETECT_TIME_BUDGET", 20.0)
# A project's set of variables: how many, and how large in all (keys and values).
BUTLER_MAX_ENV_VARS = env_int("BUTLER_MAX_ENV_VARS", 500)
BUTLER_MAX_ENV_BYTES = env_int("BUTLER_MAX_ENV_BYTES", 512 * 1024)

# ---- Live logs and events (WebSockets) ----
# Lines stored per deployment; beyond it build and app output is counted, not stored.
BUTLER_LOG_MAX_LINES = env_int("BUTLER_LOG_MAX_LINES", 10_000)
# How long a line of build output may wait in the worker before its batch is stored and sent.
BUTLER_LOG_FLUSH_SECONDS = env_float("BUTLER_LOG_FLUSH_SECONDS", 0.05)
# Without Redis: how often each web process reads new events (one query for all its sockets).
BUTLER_EVENTS_POLL_SECONDS = env_float("BUTLER_EVENTS_POLL_SECONDS", 0.1)
# Lines a second one socket is sent at most; beyond that it is told how many it skipped.
BUTLER_WS_MAX_LINES_PER_SECOND = env_int("BUTLER_WS_MAX_LINES_PER_SECOND", 2000)
