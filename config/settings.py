"""Settings, read from the environment.

With nothing set, the service runs on the embedded default: SQLite in WAL mode under ``var/``
and Celery's ``filesystem://`` broker, so that a fresh machine needs no server. Set
``DATABASE_URL`` (``postgres://...``) and ``CELERY_BROKER_URL`` (``redis://...`` or
``amqp://...``) to run on real components; the code is the same.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.converters import IdConverter
from config.limits import DEFAULT_MAX_BODY_BYTES

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The fallback key only exists so that a fresh checkout runs; production settings refuse it.
INSECURE_DEV_SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "core",
    "accounts",
    "cases",
    "notifications",
    # django.contrib.admin with the dashboard site; last, so that the apps' admin templates
    # (cases/templates/admin/base_site.html) come before Django's own.
    "cases.apps.WorkbenchAdminConfig",
]

MIDDLEWARE = [
    # Unlinks an API request from its view and response once rendered, so that reference
    # counting frees its parsed body (config/collector.py).
    "config.collector.ReleaseRequestCycles",
    # Request latency by route (/metrics), around everything else.
    "config.metrics.RequestMetricsMiddleware",
    # The request's id (X-Request-ID), in its log line, its response and the tasks it causes.
    "config.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, the API docs' Swagger UI) from the process itself, in every
    # deployment; found in the installed apps, so no collectstatic step is needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.problems.ApiProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "config.admin_query.AdminQueryGuardMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(VAR_DIR / "db.sqlite3")),
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                # WAL lets readers work while one writer commits; IMMEDIATE takes the write lock
                # when a transaction starts, so two writers queue instead of failing mid-way.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
# A cache is used for enforcement lookups only when every process shares it (Redis): a
# per-process cache could not be invalidated by another process.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
ENFORCEMENT_CACHE_ENABLED = bool(CACHE_URL)

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Pages for people write every time as 2026-11-25 10:00 UTC (config/formats/en/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]

# Request size limits: the largest body the API reads (a full batch of 1,000 signals with
# evidence fits), also Django's own limit on any body it reads, so that the two never disagree.
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES)))
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # collectstatic's target; whitenoise reads it too
WHITENOISE_USE_FINDERS = True

# --- Evidence storage (docs/operations.md, ADR 0014) ----------------------------------------
# Evidence content is written once and never overwritten: the file system under var/evidence by
# default; EVIDENCE_STORAGE=s3 keeps it in an S3-compatible bucket through django-storages.
EVIDENCE_STORAGE = os.environ.get("EVIDENCE_STORAGE", "file")
if EVIDENCE_STORAGE == "s3":
    _evidence_storage: dict[str, object] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("EVIDENCE_S3_BUCKET", "tscase-evidence"),
            "endpoint_url": os.environ.get("EVIDENCE_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("EVIDENCE_S3_REGION") or None,
            "location": os.environ.get("EVIDENCE_S3_PREFIX", ""),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": False,
        },
    }
elif EVIDENCE_STORAGE == "file":
    _evidence_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": os.environ.get("EVIDENCE_DIR", str(VAR_DIR / "evidence")),
            "file_permissions_mode": 0o440,
            "directory_permissions_mode": 0o750,
        },
    }
else:
    raise ValueError(f"EVIDENCE_STORAGE must be 'file' or 's3', not {EVIDENCE_STORAGE!r}")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "evidence": _evidence_storage,
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        # Redis: a broker that accepts connections but never answers must not hang a request.
        "socket_connect_timeout": float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "2")),
        "socket_timeout": 5.0,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must fail fast when the broker is down: the outbox keeps the work. A publish tries
# to connect for at most the connection timeout and is never retried; the worker and beat, which
# alone use the retry count below, reconnect for as long as the broker is away (None: forever).
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "2"))
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Seconds per network operation with the mail server (Django's default is to wait forever).
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "trust-and-safety@example.com")
# Where customers write to contest a decision; named in every statement of reasons.
APPEALS_EMAIL = os.environ.get("APPEALS_EMAIL", "appeals@example.com")

# --- Notices and webhooks (docs/notifications.md) -------------------------------------------
# Fernet key material for webhook secrets at rest; falls back to SECRET_KEY.
WEBHOOK_SECRET_KEY = os.environ.get("WEBHOOK_SECRET_KEY", "")
# Endpoints on private, loopback or link-local addresses are refused unless this is on
# (tests and the local demo turn it on).
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", False)
# The partner sandbox of `make run` (http://127.0.0.1:PORT, set by config/devrun.py): webhook
# URLs of exactly this origin are accepted although on loopback. Production refuses it.
PARTNER_SANDBOX_URL = os.environ.get("PARTNER_SANDBOX_URL", "")
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
WEBHOOK_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_CONNECT_TIMEOUT_SECONDS", "5"))
# The whole of one attempt (connect, TLS, send, the complete answer), however the receiver
# paces its bytes; the two timeouts above bound single network operations within it.
WEBHOOK_DEADLINE_SECONDS = float(os.environ.get("WEBHOOK_DEADLINE_SECONDS", "15"))
# Waits before each retry (seconds): 27.6 h in all (before jitter), then the notice is failed.
NOTICE_RETRY_SCHEDULE = [
    float(s) for s in env_list("NOTICE_RETRY_SCHEDULE", "10,60,300,1800,7200,18000,36000,36000")
]
NOTICE_RETRY_JITTER = float(os.environ.get("NOTICE_RETRY_JITTER", "0.2"))
# A worker's claim on a notice; after it runs out, another worker may retry the delivery.
NOTICE_LEASE_SECONDS = float(os.environ.get("NOTICE_LEASE_SECONDS", "120"))
NOTICE_REQUEUE_AFTER_SECONDS = float(os.environ.get("NOTICE_REQUEUE_AFTER_SECONDS", "60"))
NOTICE_COUNTDOWN_MAX_SECONDS = float(os.environ.get("NOTICE_COUNTDOWN_MAX_SECONDS", "300"))
NOTICE_BROKER_BACKOFF_SECONDS = float(os.environ.get("NOTICE_BROKER_BACKOFF_SECONDS", "10"))
NOTICE_SWEEP_BATCH = int(os.environ.get("NOTICE_SWEEP_BATCH", "500"))
# Notices per task message, and attempts of one task in flight at once (threads).
NOTICE_SEND_BATCH = int(os.environ.get("NOTICE_SEND_BATCH", "100"))
NOTICE_SEND_CONCURRENCY = int(os.environ.get("NOTICE_SEND_CONCURRENCY", "8"))
# A task starts no attempt after this long (seconds); what it has not tried goes back to the
# outbox. With the webhook deadline, this bounds how long a slow receiver holds a worker process.
NOTICE_BATCH_SECONDS = float(os.environ.get("NOTICE_BATCH_SECONDS", "60"))
# Appeals (decisions.md, DSA Art. 20): open this many days after the decision (at least six
# months), to be decided within APPEAL_REVIEW_DAYS of their filing. The outcome notice names
# the out-of-court dispute settlement body (DSA Art. 21) the account may turn to next.
APPEAL_WINDOW_DAYS = int(os.environ.get("APPEAL_WINDOW_DAYS", "183"))
APPEAL_REVIEW_DAYS = int(os.environ.get("APPEAL_REVIEW_DAYS", "14"))
DISPUTE_SETTLEMENT_BODY = os.environ.get(
    "DISPUTE_SETTLEMENT_BODY", "an out-of-court dispute settlement body certified under DSA Art. 21"
)
DISPUTE_SETTLEMENT_URL = os.environ.get(
    "DISPUTE_SETTLEMENT_URL",
    "https://digital-strategy.ec.europa.eu/en/policies/dsa-out-of-court-dispute-settlement",
)
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000")

# --- Deadlines ------------------------------------------------------------------------------
# The deadline sweep reminds the assignee this long before a case's review deadline, escalates
# to the leads once it has passed and again every DEADLINE_ESCALATION_REPEAT while it stays
# overdue. Account contacts are reminded PLAN_REMINDER_BEFORE a remediation plan's deadline.
DEADLINE_REMINDER_BEFORE = timedelta(
    minutes=max(0, int(os.environ.get("DEADLINE_REMINDER_BEFORE_MINUTES", "120")))
)
# Leads are reminded this long before a legal hold's review date (cases.hold_followup).
HOLD_REVIEW_REMINDER_BEFORE = timedelta(
    days=max(0, int(os.environ.get("HOLD_REVIEW_REMINDER_DAYS", "7")))
)
DEADLINE_ESCALATION_REPEAT = timedelta(
    minutes=max(1, int(os.environ.get("DEADLINE_ESCALATION_REPEAT_MINUTES", "720")))
)
PLAN_REMINDER_BEFORE = timedelta(
    hours=max(0, int(os.environ.get("PLAN_REMINDER_BEFORE_HOURS", "72")))
)
# Partners' follow-up (partners.md), by the same sweep: a partner that has not acknowledged an
# enforcement change PARTNER_ACK_HOURS after it was made is reminded at its contact address,
# and after twice that the case's assignee and the leads are told; the same for a report
# after PARTNER_REPORT_DAYS. Each step once per change and partner.
PARTNER_ACK_HOURS = timedelta(hours=max(1, int(os.environ.get("PARTNER_ACK_HOURS", "24"))))
PARTNER_REPORT_DAYS = timedelta(days=max(1, int(os.environ.get("PARTNER_REPORT_DAYS", "7"))))

# Four-eyes approval (docs/workflow.md): a proposed termination waits this long for a second
# lead, who is reminded APPROVAL_REMINDER_BEFORE it expires. There is no setting that turns
# four eyes off.
APPROVAL_TTL = timedelta(hours=max(1, int(os.environ.get("APPROVAL_TTL_HOURS", "72"))))
APPROVAL_REMINDER_BEFORE = timedelta(
    hours=max(0, int(os.environ.get("APPROVAL_REMINDER_BEFORE_HOURS", "12")))
)

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "config.openapi.ProblemAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.api.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["config.renderers.ContractJSONRenderer"],
    # Serializers hand datetimes to the renderer, which writes them all one way (config.times).
    "DATETIME_FORMAT": None,
    "DEFAULT_PARSER_CLASSES": ["config.parsers.StrictJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["config.api.ProblemFilterBackend"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.ProblemContentNegotiation",
    "DEFAULT_THROTTLE_CLASSES": ["config.throttling.ApiRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": os.environ.get("API_RATE_LIMIT") or None},
    "EXCEPTION_HANDLER": "config.problems.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trust & Safety case management API",
    "DESCRIPTION": (
        "Signals in, cases worked, enforcement out. Clients authenticate with "
        "`Authorization: Bearer <key>`; each operation names its scope. Errors are RFC 9457 "
        "problem details (`application/problem+json`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The gateway's check takes its key in a header of its own (the customer's Authorization
    # is forwarded by the gateway): accounts.api.gateway.
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "gatewayKey": {
                "type": "apiKey",
                "in": "header",
                "name": "x-tns-key",
                "description": "The gateway's API key (scope `enforcement:read`).",
            }
        }
    },
    # Swagger UI from drf-spectacular-sidecar (pinned in pyproject.toml), served as static
    # files by this service: the docs page works offline and never changes under its users.
    "SWAGGER_UI_DIST": "SIDECAR",
    # No call to the public validator service either.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PATH_CONVERTER_OVERRIDES": {"id": IdConverter.schema},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.query_text_without_nul",
    ],
    "ENUM_NAME_OVERRIDES": {
        "SeverityEnum": "cases.choices.Priority",
        "EnforcementStatusEnum": "accounts.choices.EnforcementStatus",
        "CaseStateEnum": "cases.choices.CaseState",
        "ActionEnum": "cases.api.serializers.ACTION_CHOICES",
        "RestrictionKindEnum": "cases.choices.RestrictionKind",
        "DecisionKindEnum": "cases.choices.DecisionKind",
        "PartnerKindEnum": "accounts.choices.PartnerKind",
        "IdentifierKindEnum": "accounts.identifiers.IdentifierKind",
        "LinkStrengthEnum": [("strong", "strong"), ("weak", "weak")],
        "EvidenceKindEnum": "cases.choices.EvidenceKind",
        "CustodyActionEnum": "cases.choices.CustodyAction",
    },
}
# Keys are kept this long (Stripe keeps them 24 hours).
IDEMPOTENCY_KEY_TTL = timedelta(hours=int(os.environ.get("IDEMPOTENCY_KEY_TTL_HOURS", "24")))
# How long a cached enforcement status or API key may live at most (invalidated on change).
ENFORCEMENT_CACHE_TTL = int(os.environ.get("ENFORCEMENT_CACHE_TTL", "300"))
# The enforcement feed serves the changes of this many days (gateway.md): a reader whose next
# change is older gets 410 and starts again from the snapshot. The changes themselves are kept
# (they are the enforcement record that verify_audit and the case export read).
ENFORCEMENT_FEED_RETENTION = timedelta(
    days=max(1, int(os.environ.get("ENFORCEMENT_FEED_RETENTION", "30")))
)

# Retention (docs/security.md): how long each kind of data is kept, in days, before the purge
# (`manage.py purge_expired`, daily at 03:30 UTC) deletes it. Nothing of an account or a case
# under an active legal hold is purged. Where an appeal could still need the data, the period is
# at least the appeal window plus RETENTION_MARGIN_DAYS; a shorter one stops the service at start.
RETENTION_MARGIN_DAYS = int(os.environ.get("RETENTION_MARGIN_DAYS", "30"))
RETENTION_DAYS = {
    kind: int(os.environ.get(f"RETENTION_{kind.upper()}_DAYS", default))
    for kind, default in (
        ("signals", "180"),
        ("dismissed_cases", "365"),
        ("notices", "730"),
        ("delivery_attempts", "90"),
        ("custody_events", "1095"),
    )
}
RETENTION_MINIMUM_DAYS = {
    "signals": 30,
    "dismissed_cases": APPEAL_WINDOW_DAYS + RETENTION_MARGIN_DAYS,
    "notices": APPEAL_WINDOW_DAYS + RETENTION_MARGIN_DAYS,
    "delivery_attempts": 30,
    "custody_events": APPEAL_WINDOW_DAYS + RETENTION_MARGIN_DAYS,
}
for _kind, _days in RETENTION_DAYS.items():
    if _days < RETENTION_MINIMUM_DAYS[_kind]:
        raise ImproperlyConfigured(
            f"RETENTION_{_kind.upper()}_DAYS is {_days}; it must be at least "
            f"{RETENTION_MINIMUM_DAYS[_kind]} days."
        )
# Accounts whose data one purge transaction deletes (each batch re-reads the holds).
RETENTION_BATCH = max(1, int(os.environ.get("RETENTION_BATCH", "200")))

# /metrics (docs/operations.md): a bearer token, else loopback clients only; the database's
# figures are kept this many seconds in each process.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_CACHE_SECONDS = float(os.environ.get("METRICS_CACHE_SECONDS", "5"))

# One handler, on the root: Django's own console handler on the "django" logger is replaced
# (with DEBUG it printed every record a second time), and a refused request (4xx) is logged as
# one line, without the traceback Django attaches to it; server errors keep theirs.
# LOG_FORMAT=json: one JSON object a line (config.logs.JsonLogFormatter); else readable text.
# Every line carries the request id ("-" outside a request and the tasks it caused).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s [%(request_id)s] %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logs.JsonLogFormatter"},
    },
    "filters": {
        "client_errors_one_line": {"()": "config.logs.ClientErrorsOneLine"},
        "request_id": {"()": "config.logs.RequestIdFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {
            "handlers": [],
            "filters": ["client_errors_one_line"],
            "propagate": True,
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# The key of the HMAC under which account identifiers (payment fingerprints, domains, IP
# prefixes ...) are stored: without it the table says nothing (docs/adr/0016). Production
# refuses to start without one of its own; changing it makes every stored identifier unmatchable
# until billing sends them again.
INSECURE_DEV_IDENTIFIER_KEY = "dev-only-insecure-identifier-key"
IDENTIFIER_HASH_KEY = os.environ.get("IDENTIFIER_HASH_KEY", INSECURE_DEV_IDENTIFIER_KEY)

# Workers log through the same handler (LOGGING), not one of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
