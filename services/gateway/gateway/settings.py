"""Django settings: everything variable comes from gateway.config (environment variables)."""

import logging
import os

import dj_database_url

from gateway.config import CONFIG, MAX_JSON_BODY_BYTES
from headshots_common import logs

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_hosts

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "accounts",
    "orders",
    "outbox",
    "partner_grpc",
    "webhooks",
    "workers",
    "checker",
    "studio",
    "teams",
]

MIDDLEWARE = [
    "gateway.observability.RequestObservabilityMiddleware",  # times and logs every request, refused ones too
    "gateway.limits.RequestLimitsMiddleware",  # first: an over-limit request is refused before anything reads it
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # the studio's own CSS and script, from the package
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "studio.security.ContentSecurityPolicyMiddleware",
    "gateway.rest_errors.OutageMiddleware",  # last: it sees what a view raised
]

# `request` in every template: the verification notice sends a person back to the page they asked from.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
STATIC_URL = "/studio/static/"
WHITENOISE_USE_FINDERS = True  # served from the installed package: no collectstatic step in the image
WHITENOISE_AUTOREFRESH = DEBUG

# The studio signs in with a server-side session (signing out ends it on the server, not only in the browser).
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 14 * 24 * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CONFIG.secure_cookies
CSRF_COOKIE_SECURE = CONFIG.secure_cookies
CSRF_COOKIE_SAMESITE = "Strict"
CSRF_FAILURE_VIEW = "studio.security.csrf_failure"
# Consumers' passwords (sign-up and reset): a weak one is refused with what is wrong (400 `weak_password`).
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "name")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# E-mail: "headshots ready" to consumers; locally files under var/mail, SMTP in the cluster.
if CONFIG.email_backend == "smtp":
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST, EMAIL_PORT = CONFIG.email_host, CONFIG.email_port
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = CONFIG.email_user, CONFIG.email_password
    EMAIL_USE_TLS = CONFIG.email_use_tls
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(CONFIG.shared.var_dir / "mail")
DEFAULT_FROM_EMAIL = CONFIG.email_from

ROOT_URLCONF = "gateway.urls"
WSGI_APPLICATION = "gateway.wsgi.application"

CONFIG.shared.var_dir.mkdir(parents=True, exist_ok=True)
# Connections are kept a minute between requests, and checked before reuse: one that died with a database restart
# is replaced rather than failing the first request each process serves afterwards.
DATABASES = {"default": dj_database_url.parse(CONFIG.database_url, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The laptop's database serves several processes at once (web workers, gRPC, the worker's loops): readers
    # never wait for the writer (WAL), a writer takes the lock when its transaction starts (IMMEDIATE: no
    # deadlock when a reader turns writer) and waits for it up to 30 s instead of failing "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests too get a file (Django's default in-memory test database locks whole tables between threads,
    # which no deployment does), so concurrency behaves in tests as it does on a laptop.
    DATABASES["default"]["TEST"] = {"NAME": str(CONFIG.shared.var_dir / "gateway-test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"

# Uploads: counted and capped while they stream in (gateway.limits); photos stream straight into the order's
# quarantine area (orders.quarantine, installed by the photos endpoint). Nothing is ever spooled to a temporary
# file: any other multipart body keeps at most 2.5 MB of files in memory. The file count is ours to enforce (with
# the error envelope), not Django's.
FILE_UPLOAD_HANDLERS = [
    "gateway.limits.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
]
DATA_UPLOAD_MAX_NUMBER_FILES = None
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_JSON_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

if CONFIG.shared_cache:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CONFIG.cache_url}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.StudioSession",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "gateway.limits.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "gateway.rest_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["gateway.throttling.TenantRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"tenant": CONFIG.rate_limit, "order_create": CONFIG.order_rate_limit},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Headshots API",
    "DESCRIPTION": "Orders, photos and headshots for consumers and partners. Authenticate with "
    '`Authorization: Bearer <key>`. Errors: `{"error": {"code", "message", "details"}}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"StyleEnum": "headshots_common.styles.STYLE_IDS"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "gateway.openapi.document_no_nul_characters",
    ],
}

# One JSON object per line with the order, tenant and trace (headshots_common.logs). Pillow logs EXIF tags (GPS
# included) and raw bytes at DEBUG: it is held at WARNING, so photo metadata never reaches the logs.
LOGGING = logs.logging_dict(os.environ.get("OTEL_SERVICE_NAME") or "gateway")
logging.captureWarnings(True)
