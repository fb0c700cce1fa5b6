"""The gateway's configuration, read once from environment variables."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from headshots_common.settings import SharedSettings, env_bool, env_float, env_int, env_str

# Request bounds that are not settings (gateway.limits; gunicorn's own sit above them).
MAX_HEADER_BYTES = 8 * 1024
# JSON bodies are small (an order, a sign-in); multipart carries photos, with room for its part headers.
MAX_JSON_BODY_BYTES = 1024 * 1024
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class GatewayConfig:
    shared: SharedSettings
    database_url: str
    secret_key: str
    debug: bool
    allowed_hosts: list[str]
    partner_grpc_port: int
    max_photo_bytes: int
    min_photos: int
    max_photos: int
    max_upload_files: int
    max_upload_bytes: int
    min_face_px: int
    verdict_wait_s: float
    upload_url_ttl_s: int
    upload_url: str
    check_backlog_max_age_s: float
    check_backlog_max_depth: int
    checker_nice: int
    relay_batch_size: int
    webhook_base_delay_s: float
    webhook_max_attempts: int
    webhook_timeout_s: float
    webhook_senders: int
    webhook_per_host: int
    webhook_per_tenant: int
    webhook_allowed_networks: tuple[str, ...]
    retention_sweep_s: float
    stall_s: float
    worker_stale_s: float
    rate_limit: str
    order_rate_limit: str
    auth_rate_limit: str
    signin_lockout_after: int
    signin_address_lockout_after: int
    signin_lockout_s: float
    signin_lockout_max_s: float
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    cache_url: str
    auth_cache_s: float
    token_ttl_hours: float
    grpc_max_streams: int
    grpc_max_streams_per_tenant: int
    grpc_tls_cert_file: str
    grpc_tls_key_file: str
    grpc_tls_client_ca_file: str
    secure_cookies: bool
    public_url: str
    email_backend: str
    email_from: str
    email_host: str
    email_port: int
    email_user: str
    email_password: str
    email_use_tls: bool

    @property
    def shared_cache(self) -> bool:
        """Whether every gateway process sees the same cache (Redis), so one process can clear an entry for all."""
        return self.cache_url.startswith("redis://")


def _networks(name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated CIDRs; a wrong one stops the gateway at start-up, naming the variable."""
    try:
        return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in env_str(name, "").split(",") if n.strip())
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc


def load() -> GatewayConfig:
    shared = SharedSettings.from_env()
    cache_url = env_str("HEADSHOTS_CACHE_URL", "locmem://")
    return GatewayConfig(
        shared=shared,
        # SQLite is the zero-setup default; production and CI use PostgreSQL.
        database_url=env_str("DATABASE_URL", f"sqlite:///{shared.var_dir / 'gateway.sqlite3'}"),
        secret_key=env_str("DJANGO_SECRET_KEY", "dev-only-insecure-secret-key-change-me"),
        debug=env_bool("DJANGO_DEBUG", False),
        allowed_hosts=env_str("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(","),
        partner_grpc_port=env_int("HEADSHOTS_PARTNER_GRPC_PORT", 50051),
        max_photo_bytes=env_int("HEADSHOTS_MAX_PHOTO_BYTES", 15 * 1024 * 1024),
        min_photos=env_int("HEADSHOTS_MIN_PHOTOS", 5),
        max_photos=env_int("HEADSHOTS_MAX_PHOTOS", 20),
        # One upload (a REST request, a gRPC stream) carries at most this many files and bytes.
        max_upload_files=env_int("HEADSHOTS_MAX_UPLOAD_FILES", 40),
        max_upload_bytes=env_int("HEADSHOTS_MAX_UPLOAD_BYTES", 120 * 1024 * 1024),
        min_face_px=env_int("HEADSHOTS_MIN_FACE_PX", 96),
        # An upload (REST `POST .../photos`, gRPC `UploadPhotos`) waits at most this long for the photo checker's
        # verdicts, its thread idle; photos not decided by then answer "checking" (`Prefer: respond-async`: no wait).
        verdict_wait_s=env_float("HEADSHOTS_VERDICT_WAIT_S", 30.0),
        # A direct upload's URL works this long; an upload not completed by then is cleared with its bytes.
        upload_url_ttl_s=env_int("HEADSHOTS_UPLOAD_URL_TTL_S", 900),
        # Where the local store's signed upload URLs point: the gateway's upload receiver (`gateway-uploads`), a
        # process that serves no reads. With S3, uploads go straight to the bucket (presigned POST) instead.
        upload_url=env_str("HEADSHOTS_UPLOAD_URL", "http://127.0.0.1:8001"),
        # New uploads are refused (429 `checks_backlogged`, Retry-After) while the oldest photo waiting for the
        # checker is older than this, or more photos than this wait; reads are never refused for it.
        check_backlog_max_age_s=env_float("HEADSHOTS_CHECK_BACKLOG_MAX_AGE_S", 20.0),
        check_backlog_max_depth=env_int("HEADSHOTS_CHECK_BACKLOG_MAX_DEPTH", 2000),
        # The photo checker's CPU priority (os.nice increment): below the web's on a shared machine.
        checker_nice=env_int("HEADSHOTS_CHECKER_NICE", 10),
        relay_batch_size=env_int("HEADSHOTS_RELAY_BATCH_SIZE", 100),
        webhook_base_delay_s=env_float("HEADSHOTS_WEBHOOK_BASE_DELAY_S", 30.0),
        webhook_max_attempts=env_int("HEADSHOTS_WEBHOOK_MAX_ATTEMPTS", 10),
        webhook_timeout_s=env_float("HEADSHOTS_WEBHOOK_TIMEOUT_S", 5.0),
        # Webhooks in flight from one worker; and from all workers together to one host (the URL's host name,
        # whatever its port or user part) and to one tenant (all its endpoints): a slow or swamped partner holds
        # at most its share, never the senders other partners' webhooks need.
        webhook_senders=env_int("HEADSHOTS_WEBHOOK_SENDERS", 16),
        webhook_per_host=env_int("HEADSHOTS_WEBHOOK_PER_HOST", 4),
        webhook_per_tenant=env_int("HEADSHOTS_WEBHOOK_PER_TENANT", 8),
        # Webhooks reach public addresses only; CIDRs listed here are reachable too (127.0.0.0/8 on a laptop).
        webhook_allowed_networks=tuple(
            n for n in env_str("HEADSHOTS_WEBHOOK_ALLOW_NETWORKS", "").split(",") if n.strip()
        ),
        retention_sweep_s=env_float("HEADSHOTS_RETENTION_SWEEP_S", 60.0),
        # An order in flight whose last change is older than this lost a message: its work is requested again.
        stall_s=env_float("HEADSHOTS_STALL_S", 300.0),
        # The web is not ready while the gateway worker's last beat is older than this (gateway.health).
        worker_stale_s=env_float("HEADSHOTS_WORKER_STALE_S", 120.0),
        # Per tenant, DRF rate syntax; the order rate also bounds GPU work a key can start.
        rate_limit=env_str("HEADSHOTS_RATE_LIMIT", "1200/min"),
        order_rate_limit=env_str("HEADSHOTS_ORDER_RATE_LIMIT", "120/min"),
        # Per client address, on the anonymous account endpoints (sign-in, sign-up, verification, password reset):
        # every try there may cost a password hash or an e-mail.
        auth_rate_limit=env_str("HEADSHOTS_AUTH_RATE_LIMIT", "20/min"),
        # Failed sign-ins to one account (to anything from one address) before each further try waits a window of
        # HEADSHOTS_SIGNIN_LOCKOUT_S that doubles per failure, up to HEADSHOTS_SIGNIN_LOCKOUT_MAX_S.
        signin_lockout_after=env_int("HEADSHOTS_SIGNIN_LOCKOUT_AFTER", 5),
        signin_address_lockout_after=env_int("HEADSHOTS_SIGNIN_ADDRESS_LOCKOUT_AFTER", 20),
        signin_lockout_s=env_float("HEADSHOTS_SIGNIN_LOCKOUT_S", 60.0),
        signin_lockout_max_s=env_float("HEADSHOTS_SIGNIN_LOCKOUT_MAX_S", 3600.0),
        # The proxies in front of the gateway (the ingress controller's networks, CIDR): only these are believed
        # about the client's address (X-Forwarded-For). Empty: none, the connection's own address counts.
        trusted_proxies=_networks("HEADSHOTS_TRUSTED_PROXIES"),
        # Counters shared by every gateway process: redis://… in the cluster; per-process memory locally.
        cache_url=cache_url,
        # Key lookups are kept this long in the shared cache (never in a process of its own: a revoked key
        # stops working in every process at once).
        auth_cache_s=env_float("HEADSHOTS_AUTH_CACHE_S", 30.0),
        # A consumer's personal token from sign-up or sign-in expires this long after it was issued.
        token_ttl_hours=env_float("HEADSHOTS_TOKEN_TTL_HOURS", 30 * 24.0),
        # Partner gRPC calls that hold a thread (streams, uploads, waits), in all and per partner; beyond,
        # RESOURCE_EXHAUSTED. The server keeps as many threads again for short calls and health checks.
        grpc_max_streams=env_int("HEADSHOTS_GRPC_MAX_STREAMS", 64),
        grpc_max_streams_per_tenant=env_int("HEADSHOTS_GRPC_MAX_STREAMS_PER_TENANT", 8),
        # The partner gRPC server's certificate chain and key (PEM files, e.g. a mounted kubernetes.io/tls Secret):
        # both set, TLS; neither, plaintext (a laptop, or behind a TLS-terminating ingress). With a client CA,
        # callers must also present a certificate it signed. Files are read again when they change.
        grpc_tls_cert_file=env_str("HEADSHOTS_GRPC_TLS_CERT_FILE", ""),
        grpc_tls_key_file=env_str("HEADSHOTS_GRPC_TLS_KEY_FILE", ""),
        grpc_tls_client_ca_file=env_str("HEADSHOTS_GRPC_TLS_CLIENT_CA_FILE", ""),
        # The studio's session and CSRF cookies are sent over HTTPS only (the cluster; a laptop serves HTTP).
        secure_cookies=env_bool("HEADSHOTS_SECURE_COOKIES", False),
        # Where people reach the studio (links in e-mails).
        public_url=env_str("HEADSHOTS_PUBLIC_URL", "http://127.0.0.1:8000"),
        # "smtp" in the cluster; locally every e-mail is a file under var/mail.
        email_backend=env_str("HEADSHOTS_EMAIL_BACKEND", "file"),
        email_from=env_str("HEADSHOTS_EMAIL_FROM", "Headshots <studio@headshots.local>"),
        email_host=env_str("HEADSHOTS_EMAIL_HOST", "localhost"),
        email_port=env_int("HEADSHOTS_EMAIL_PORT", 587),
        email_user=env_str("HEADSHOTS_EMAIL_USER", ""),
        email_password=env_str("HEADSHOTS_EMAIL_PASSWORD", ""),
        email_use_tls=env_bool("HEADSHOTS_EMAIL_USE_TLS", True),
    )


CONFIG = load()
