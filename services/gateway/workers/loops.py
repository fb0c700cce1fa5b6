"""The gateway's background loops, run together by `manage.py run_worker`: outbox relay, pipeline-event
consumer, webhook sender, retention sweep, recovery sweep, and the test-mode pipeline (test partners' orders).

Every loop survives a failed turn (the database busy, the broker away): it logs, waits and tries again, and
what the turn did not finish is done by a later one. Each loop beats when it completes a turn; the worker's
main thread checks them every second and exits when one died or stopped beating, so that its supervisor
(Kubernetes, the local stack's) restarts it. While all beat, it touches the liveness file and records its
beat in the database, which the web's readiness reads (`workers.selectors`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import close_old_connections
from kafka.errors import CommitFailedError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata

from gateway import observability
from gateway.config import CONFIG
from headshots_common import bus, logs
from headshots_common.lifecycle import heartbeat_of
from headshots_common.metrics import ConsumerLag, Sampler
from orders.services import retention, test_mode
from orders.services.pipeline_events import apply_pipeline_event
from orders.services.recovery import resubmit_stalled
from outbox import services as outbox
from teams import services as team_services
from webhooks.delivery import DeliveryPool
from workers import services as worker_services
from workers.selectors import GATEWAY_WORKER

log = logging.getLogger(__name__)

CONSUMER_GROUP = "headshots-gateway"
# Touched by the main thread while every loop beats; the liveness probe reads its age.
HEARTBEAT = heartbeat_of(CONFIG.shared.var_dir, GATEWAY_WORKER)
# A loop that has not completed a turn for this long (beyond its own sleep) is stuck.
STUCK_AFTER_S = 90.0
FAILED_TURN_PAUSE_S = 2.0
PROGRESS_EVENTS = ("training_progress", "render_progress")


class LoopBeats:
    """When each loop last completed a turn, and how long it may sleep between turns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._beats: dict[str, tuple[float, float]] = {}

    def beat(self, loop: str, sleeps_s: float = 0.0) -> None:
        with self._lock:
            self._beats[loop] = (time.monotonic(), sleeps_s)

    def stuck(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            return [loop for loop, (at, sleeps) in self._beats.items() if now - at > STUCK_AFTER_S + sleeps]


BEATS = LoopBeats()


def run_relay(stop: threading.Event, idle_sleep_s: float = 0.2) -> None:
    publisher = bus.Publisher(CONFIG.shared.kafka_bootstrap)
    try:
        while not stop.is_set():
            close_old_connections()
            try:
                sent = outbox.relay_batch(publisher, CONFIG.relay_batch_size)
            except Exception:
                log.exception("outbox relay failed; the messages stay in the outbox and go out on a later turn")
                sent = 0
                stop.wait(FAILED_TURN_PAUSE_S)
            if sent:
                log.info("relayed %d outbox messages", sent)
            else:
                stop.wait(idle_sleep_s)
            BEATS.beat("relay")
    finally:
        publisher.close()


def run_consumer(stop: threading.Event) -> None:
    """Apply pipeline events exactly once each; an event that fails is read again, after a pause."""
    consumer = bus.make_consumer(
        CONFIG.shared.kafka_bootstrap, CONSUMER_GROUP, [bus.TRAINING_TOPIC, bus.RENDERING_TOPIC]
    )
    lag = ConsumerLag(CONSUMER_GROUP)
    try:
        while not stop.is_set():
            batches = consumer.poll(timeout_ms=500)
            lag.report(consumer)
            close_old_connections()
            applied: dict = {}
            failed = False
            for partition, messages in batches.items():
                for message in messages:
                    try:
                        event = bus.decode_event(message.value)
                        with logs.log_context(order_id=event.order_id):
                            applied_now = outbox.consume_once(event, apply_pipeline_event)
                            kind = bus.payload_kind(event)
                            if applied_now and kind not in PROGRESS_EVENTS:  # progress comes several times a second
                                log.info("order %s: %s applied", event.order_id, kind)
                    except Exception:
                        log.exception("applying an event failed; it is read again")
                        consumer.seek(partition, message.offset)  # this one and the rest come again
                        failed = True
                        break
                    applied[partition] = OffsetAndMetadata(message.offset + 1, "", -1)
            if applied:
                try:
                    consumer.commit(applied)  # only what is durably applied
                except (CommitFailedError, RebalanceInProgressError):
                    log.warning("could not commit: the group is rebalancing; the events come again (deduplicated)")
            if failed:
                stop.wait(FAILED_TURN_PAUSE_S)
            BEATS.beat("consumer")
    finally:
        consumer.close()


def run_webhooks(stop: threading.Event, idle_sleep_s: float = 0.2, pool: DeliveryPool | None = None) -> None:
    """Deliveries go out through a pool of senders, claimed fairly with caps per host and tenant: a slow endpoint
    or a long backlog delays no other partner's webhooks."""
    pool = pool or DeliveryPool()
    try:
        while not stop.is_set():
            close_old_connections()
            try:
                started = pool.start_due()
            except Exception:
                log.exception("webhook dispatch failed; retrying")
                started = 0
                stop.wait(FAILED_TURN_PAUSE_S)
            if not started:
                pool.wait(idle_sleep_s)
            BEATS.beat("webhooks")
    finally:
        pool.shutdown()


def run_retention(stop: threading.Event) -> None:
    """The retention schedule: purge what is due and re-purge recently deleted orders, then sleep."""
    while not stop.is_set():
        close_old_connections()
        try:
            purged, _ = retention.sweep()
            if purged:
                log.info("retention purged the training data of %d orders", purged)
            if deleted := team_services.enforce_retention():
                log.info("team retention policies deleted %d members' orders", deleted)
        except Exception:
            log.exception("retention sweep failed; retrying at the next sweep")
        BEATS.beat("retention", sleeps_s=CONFIG.retention_sweep_s)
        stop.wait(CONFIG.retention_sweep_s)


def run_recovery(stop: threading.Event) -> None:
    """Orders in flight that stopped moving get their work requested again (see orders.services.recovery)."""
    stall_after = timedelta(seconds=CONFIG.stall_s)
    interval = min(60.0, CONFIG.stall_s / 2)
    BEATS.beat("recovery", sleeps_s=interval)
    while not stop.wait(interval):
        close_old_connections()
        try:
            resubmit_stalled(stall_after)
        except Exception:
            log.exception("recovery sweep failed; retrying at the next sweep")
        BEATS.beat("recovery", sleeps_s=interval)


def run_test_mode(stop: threading.Event, step_s: float = 0.5) -> None:
    """Test partners' orders move one step each turn (`orders.services.test_mode`): done within seconds."""
    while not stop.is_set():
        close_old_connections()
        try:
            test_mode.advance()
        except Exception:
            log.exception("the test-mode pipeline failed a turn; the orders move on at the next")
        BEATS.beat("test_mode", sleeps_s=step_s)
        stop.wait(step_s)


def _sample_outbox() -> None:
    try:
        observability.sample_outbox()
        observability.sample_teams()
    finally:
        close_old_connections()


LOOPS: tuple[Callable[[threading.Event], None], ...] = (
    run_relay,
    run_consumer,
    run_webhooks,
    run_retention,
    run_recovery,
    run_test_mode,
)


def run_worker(stop: threading.Event) -> None:
    bus.wait_for_broker(CONFIG.shared.kafka_bootstrap, timeout_s=60)
    Sampler(_sample_outbox, interval_s=5.0, name="outbox-gauges").start()
    threads = [threading.Thread(target=loop, args=(stop,), name=loop.__name__, daemon=True) for loop in LOOPS]
    for thread in threads:
        thread.start()
    last_database_beat = 0.0
    try:
        while not stop.wait(1.0):
            dead = [t.name for t in threads if not t.is_alive()]
            stuck = BEATS.stuck()
            if dead or stuck:
                raise RuntimeError(f"worker loops dead {dead} or stuck {stuck}; exiting so that it is restarted")
            HEARTBEAT.beat()
            # Well within the age at which the web stops being ready (gateway.health).
            if time.monotonic() - last_database_beat >= min(10.0, CONFIG.worker_stale_s / 4):
                try:
                    worker_services.record_beat(GATEWAY_WORKER)
                    last_database_beat = time.monotonic()
                except Exception:
                    log.warning("could not record the worker's beat in the database", exc_info=True)
                finally:
                    close_old_connections()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
