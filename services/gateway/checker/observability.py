"""The photo checker's own metrics (besides `kafka_consumer_lag_records` of its consumer group)."""

from django.db import close_old_connections
from django.db.models import Min
from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram

PHOTOS_CHECKED = Counter(
    "headshots_photos_checked_total", "Photos the checker gave a verdict on (skipped: decided before)", ["verdict"]
)
CHECK_FAILURES = Counter(
    "headshots_photo_check_failures_total", "Checks that failed (the store or the database away) and are read again"
)
CHECK_SECONDS = Histogram(
    "headshots_photo_check_cpu_seconds",
    "CPU seconds the checks of one photo took",
    buckets=(0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0),
)
BACKLOG_AGE = Gauge(
    "headshots_photo_check_backlog_age_seconds",
    "Age of the oldest photo waiting for its verdict (uploads are refused past HEADSHOTS_CHECK_BACKLOG_MAX_AGE_S)",
)
BACKLOG = Gauge("headshots_photo_check_backlog", "Photos waiting for their verdict")


def sample_backlog() -> None:
    """The backlog gauges, read from the database (every checker samples them every few seconds)."""
    from orders.models import Photo

    try:
        waiting = Photo.objects.filter(state=Photo.State.CHECKING)
        oldest = waiting.aggregate(oldest=Min("received_at"))["oldest"]
        BACKLOG_AGE.set((timezone.now() - oldest).total_seconds() if oldest else 0.0)
        BACKLOG.set(waiting.count())
    finally:
        close_old_connections()
