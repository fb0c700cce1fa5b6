"""Prometheus metrics of the trainer process (served on HEADSHOTS_METRICS_PORT when set: headshots_common.metrics)."""

from kafka import ConsumerRebalanceListener
from prometheus_client import Counter, Gauge, Histogram

JOBS = Counter("trainer_jobs_total", "Training jobs finished, by outcome", ["outcome"])
FAILURES = Counter("trainer_failures_total", "Failed training jobs, by reason", ["reason"])
JOBS_RUNNING = Gauge("trainer_jobs_running", "Training jobs running now")
STEP_SECONDS = Histogram(
    "trainer_step_seconds", "Wall time of one training step", buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10)
)
QUEUE_WAIT_SECONDS = Histogram(
    "trainer_queue_wait_seconds",
    "From the order's submission to its training starting",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
RESUMED = Counter("trainer_jobs_resumed_total", "Jobs that continued from a checkpoint")
DUPLICATES = Counter("trainer_duplicate_orders_total", "Order messages skipped because the job already finished")
PARTITIONS_REVOKED = Counter("trainer_partitions_revoked_total", "Kafka partitions taken away by a rebalance")
TAKEOVERS = Counter("trainer_lease_takeovers_total", "Jobs taken over after another worker's lease expired")
LEASES_LOST = Counter("trainer_leases_lost_total", "Jobs this worker stopped because another took its lease")
STALLS = Counter("trainer_stalls_total", "Jobs whose lease this worker gave up after no progress for the stall window")
BLOB_STORE_WAITS = Counter(
    "trainer_blob_store_waits_total", "Times a job waited for an unavailable blob store before trying again"
)


class RevocationCounter(ConsumerRebalanceListener):
    """Counts the partitions a rebalance takes from this worker (PARTITIONS_REVOKED, and `revoked`)."""

    def __init__(self):
        self.revoked = 0

    def on_partitions_revoked(self, revoked):
        self.revoked += len(revoked)
        PARTITIONS_REVOKED.inc(len(revoked))

    def on_partitions_assigned(self, assigned):
        pass
