"""The photo checker's loop (`manage.py run_photo_checker`): PhotoReceived events from the photos topic, one photo
at a time per process, each committed only once its verdict is recorded (`checker.services.check`).

The topic is keyed by photo id, so one order's photos spread over every checker process and are checked side by
side; its partitions are at least as many as the processes that may run (the chart's KEDA maximum). A failed turn
(the database or the store away) reads the same event again after a pause: nothing is lost, nothing is skipped,
and the backlog's age, which the gateway refuses uploads on and the alerts watch, says so.
"""

from __future__ import annotations

import logging
import threading

from django.db import InterfaceError, OperationalError, close_old_connections
from kafka.errors import CommitFailedError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata

from checker import services
from checker.observability import CHECK_FAILURES
from gateway.config import CONFIG
from headshots_common import blobstore, bus, logs
from headshots_common.lifecycle import heartbeat_of
from headshots_common.metrics import ConsumerLag

log = logging.getLogger(__name__)

CONSUMER_GROUP = "headshots-photo-checker"
PROCESS_NAME = "photo-checker"  # its heartbeat's name (the probes read it)
FAILED_TURN_PAUSE_S = 2.0


def run(stop: threading.Event, name: str = PROCESS_NAME) -> None:
    heartbeat = heartbeat_of(CONFIG.shared.var_dir, name)
    bus.wait_for_broker(CONFIG.shared.kafka_bootstrap, timeout_s=60)
    # One photo per poll: a slow photo never holds others back past max.poll.interval.ms, and idle checkers take over.
    # A fetch answers at most 100 ms after a photo arrives: people wait for these verdicts.
    consumer = bus.make_consumer(
        CONFIG.shared.kafka_bootstrap, CONSUMER_GROUP, [bus.PHOTOS_TOPIC], max_poll_records=1, fetch_max_wait_ms=100
    )
    lag = ConsumerLag(CONSUMER_GROUP)
    try:
        while not stop.is_set():
            heartbeat.beat()
            batches = consumer.poll(timeout_ms=500)
            lag.report(consumer)
            for partition, messages in batches.items():
                for message in messages:
                    close_old_connections()
                    if not _check(message.value):
                        consumer.seek(partition, message.offset)  # this one comes again
                        stop.wait(FAILED_TURN_PAUSE_S)
                        break
                    try:
                        consumer.commit({partition: OffsetAndMetadata(message.offset + 1, "", -1)})
                    except (CommitFailedError, RebalanceInProgressError):
                        log.warning("could not commit: the group is rebalancing; the photo comes again (decided once)")
    finally:
        consumer.close()


# A photo whose check failed this many times in a row gets the `check_failed` verdict: an input that breaks the
# checks every time must not hold its partition (and the photos behind it) for good.
MAX_ATTEMPTS = 5
_failures: dict[str, int] = {}


def _passing(exc: BaseException) -> bool:
    return blobstore.unavailable(exc) or isinstance(exc, OperationalError | InterfaceError)


def _check(raw: bytes) -> bool:
    """Whether the event was handled (a verdict recorded, or nothing left to decide)."""
    event = bus.decode_event(raw)
    if bus.payload_kind(event) != "photo_received":
        return True
    photo_id = event.photo_received.photo_id
    with logs.log_context(order_id=event.order_id):
        log.info("checking photo %s", photo_id)
        try:
            outcome = services.check(event.order_id, event.photo_received)
        except Exception as exc:
            CHECK_FAILURES.inc()
            if not _passing(exc):  # the store or the database away: waited out, never held against the photo
                _failures[photo_id] = _failures.get(photo_id, 0) + 1
            if _failures.get(photo_id, 0) < MAX_ATTEMPTS:
                log.exception("checking photo %s failed; it is read again", photo_id)
                return False
            log.exception("checking photo %s failed %d times: it is given up as check_failed", photo_id, MAX_ATTEMPTS)
            try:
                outcome = services.give_up(event.order_id, photo_id)
            except Exception:
                log.exception("could not record photo %s as check_failed; it is read again", photo_id)
                return False
        _failures.pop(photo_id, None)
        log.info("photo %s: %s", photo_id, outcome)
    return True
