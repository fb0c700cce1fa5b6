"""The gateway's background loops, run together by `manage.py run_worker`: outbox relay, pipeline-event
consumer, webhook sender, retention sweep."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.db import close_old_connections
from kafka.errors import CommitFailedError, RebalanceInProgressError

from gateway.config import CONFIG
from headshots_common import bus
from headshots_common.lifecycle import heartbeat_of
from orders.services.pipeline_events import apply_pipeline_event
from orders.services.recovery import resubmit_stalled
from orders.services.retention import purge_expired, repurge_deleted
from outbox import services as outbox
from webhooks import services as webhooks

log = logging.getLogger(__name__)

CONSUMER_GROUP = "headshots-gateway"
PROCESS_NAME = "gateway-worker"
# The worker's loops beat while they run; the liveness probe reads the age.
HEARTBEAT = heartbeat_of(CONFIG.shared.var_dir, PROCESS_NAME)


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
                stop.wait(2.0)
            if sent:
                log.info("relayed %d outbox messages", sent)
            else:
                stop.wait(idle_sleep_s)
            HEARTBEAT.beat()
    finally:
        publisher.close()


def run_consumer(stop: threading.Event) -> None:
    consumer = bus.make_consumer(
        CONFIG.shared.kafka_bootstrap, CONSUMER_GROUP, [bus.TRAINING_TOPIC, bus.RENDERING_TOPIC]
    )
    try:
        while not stop.is_set():
            batches = consumer.poll(timeout_ms=500)
            close_old_connections()
            for messages in batches.values():
                for message in messages:
                    event = bus.decode_event(message.value)
                    outbox.consume_once(event, apply_pipeline_event)
            if batches:
                try:
                    consumer.commit()  # only after every event above is durably applied
                except (CommitFailedError, RebalanceInProgressError):
                    log.warning("could not commit: the group is rebalancing; the events come again (deduplicated)")
            HEARTBEAT.beat()
    finally:
        consumer.close()


def run_webhooks(stop: threading.Event, idle_sleep_s: float = 0.2) -> None:
    while not stop.is_set():
        close_old_connections()
        try:
            attempted = webhooks.deliver_due()
        except Exception:
            log.exception("webhook delivery failed; retrying")
            attempted = 0
        if not attempted:
            stop.wait(idle_sleep_s)
        HEARTBEAT.beat()


def run_retention(stop: threading.Event) -> None:
    """The retention schedule: purge what is due and re-purge recently deleted orders, then sleep."""
    while not stop.is_set():
        close_old_connections()
        try:
            purged = purge_expired()
            if purged:
                log.info("retention purged the training data of %d orders", purged)
            repurge_deleted()
        except Exception:
            log.exception("retention sweep failed; retrying at the next sweep")
        stop.wait(CONFIG.retention_sweep_s)


def run_recovery(stop: threading.Event) -> None:
    """Orders in flight that stopped moving get their work requested again (see orders.services.recovery)."""
    stall_after = timedelta(seconds=CONFIG.stall_s)
    while not stop.wait(min(60.0, CONFIG.stall_s / 2)):
        close_old_connections()
        try:
            resubmit_stalled(stall_after)
        except Exception:
            log.exception("recovery sweep failed; retrying at the next sweep")
        HEARTBEAT.beat()


def run_worker(stop: threading.Event) -> None:
    bus.wait_for_broker(CONFIG.shared.kafka_bootstrap, timeout_s=60)
    threads = [
        threading.Thread(target=loop, args=(stop,), name=loop.__name__, daemon=True)
        for loop in (run_relay, run_consumer, run_webhooks, run_retention, run_recovery)
    ]
    for thread in threads:
        thread.start()
    while not stop.is_set():
        if not all(t.is_alive() for t in threads):
            stop.set()
            raise RuntimeError("a worker loop died; exiting so the supervisor restarts the worker")
        stop.wait(1.0)
    for thread in threads:
        thread.join(timeout=10)
