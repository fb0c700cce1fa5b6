"""Django settings: everything variable comes from gateway.config (environment variables)."""

import dj_database_url

from gateway.config import CONFIG, MAX_JSON_BODY_BYTES

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_hosts

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "rest_framework",
    "drf_spectacular",
    "accounts",
    "orders",
    "outbox",
    "partner_grpc",
    "webhooks",
    "workers",
]

MIDDLEWARE = [
    "gateway.limits.RequestLimitsMiddleware",  # first: an over-limit request is refused before anything reads it
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "gateway.urls"
WSGI_APPLICATION = "gateway.wsgi.application"

CONFIG.shared.var_dir.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": dj_database_url.parse(CONFIG.database_url, conn_max_age=60)}
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

# Uploads: counted and capped while they stream in (gateway.limits), spooled to temporary files past 2.5 MB,
# checked before storing. The file count is ours to enforce (with the error envelope), not Django's.
FILE_UPLOAD_HANDLERS = [
    "gateway.limits.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_NUMBER_FILES = None
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_JSON_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

if CONFIG.shared_cache:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CONFIG.cache_url}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    # Pillow logs EXIF tags (GPS included) and raw bytes at DEBUG: photo metadata must never reach the logs.
    "loggers": {"kafka": {"level": "WARNING"}, "PIL": {"level": "WARNING"}},
}
