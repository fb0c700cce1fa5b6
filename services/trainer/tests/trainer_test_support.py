"""Helpers for the trainer's broker tests: submit orders, collect the events the trainer publishes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from headshots.v1 import common_pb2, events_pb2
from headshots_common import blob_layout, bus


class TrainingEvents:
    """Every event on the training topic, by order id, collected by a background consumer (no group)."""

    def __init__(self, bootstrap: str):
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
        partitions = self._consumer.partitions_for_topic(bus.TRAINING_TOPIC)
        self._consumer.assign([TopicPartition(bus.TRAINING_TOPIC, p) for p in partitions])
        self._events: dict[str, list[events_pb2.Event]] = defaultdict(list)
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=200).values():
                with self._changed:
                    for record in records:
                        event = bus.decode_event(record.value)
                        self._events[event.order_id].append(event)
                    self._changed.notify_all()

    def of(self, order_id: str, kind: str | None = None) -> list:
        """The payloads (or, without `kind`, the events) published for an order so far."""
        with self._changed:
            events = list(self._events[order_id])
        return events if kind is None else [getattr(e, kind) for e in events if bus.payload_kind(e) == kind]

    def wait_for(self, order_id: str, kinds=("training_completed", "training_failed"), timeout_s: float = 90):
        """The first event of one of `kinds` for the order."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for event in self._events[order_id]:
                    if bus.payload_kind(event) in kinds:
                        return event
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"no {kinds} for order {order_id} within {timeout_s}s: "
                        f"{[bus.payload_kind(e) for e in self._events[order_id]]}"
                    )
                self._changed.wait(timeout=0.5)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


def worker_env(kafka_bootstrap: str, tiny_model: str, var_dir: Path, group: str, **settings: str) -> dict[str, str]:
    """The environment of a `python -m trainer` process on the test broker, a store under `var_dir`, the tiny model."""
    return dict(
        os.environ,
        HEADSHOTS_KAFKA_BOOTSTRAP=kafka_bootstrap,
        HEADSHOTS_BLOB_URL=f"file://{var_dir}/blobs",
        HEADSHOTS_VAR_DIR=str(var_dir),
        HEADSHOTS_BASE_MODEL=tiny_model,
        HEADSHOTS_DEVICE="cpu",
        HEADSHOTS_LORA_RANK="4",
        HEADSHOTS_TRAIN_PROBE_IMAGES="1",
        HEADSHOTS_TRAIN_PROBE_STEPS="2",
        HEADSHOTS_TRAINER_GROUP=group,
        HEADSHOTS_TRAINER_GRPC_PORT="0",
        **settings,
    )


def start_worker(env: dict, log_path: Path, argv: tuple[str, ...] = ("-m", "trainer")) -> subprocess.Popen:
    """A trainer worker as its own process (`python -m trainer`, or python with `argv`), logging to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, *argv],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
        )


def new_order_id(prefix: str = "order") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def upload_photos(blobs, order_id: str, photos: list[Path | bytes]) -> list[str]:
    keys = []
    for i, photo in enumerate(photos):
        data = photo if isinstance(photo, bytes) else Path(photo).read_bytes()
        keys.append(blobs.put(blob_layout.photo_key(order_id, str(i)), data))
    return keys


def order_submitted(
    photo_keys: list[str], profile=common_pb2.TRAINING_PROFILE_STANDARD, subject_class: str = "person"
) -> events_pb2.OrderSubmitted:
    return events_pb2.OrderSubmitted(
        tenant_id="t-1",
        photo_keys=photo_keys,
        subject_class=subject_class,
        training_profile=profile,
        render_spec=common_pb2.RenderSpec(style_ids=["corporate-navy"], images_per_style=1),
    )


def publish_order(publisher: bus.Publisher, order_id: str, submitted: events_pb2.OrderSubmitted) -> None:
    publisher.publish(bus.ORDERS_TOPIC, bus.new_event(order_id, order_submitted=submitted))


class JobStoreUser:
    """A `TrainingJobStore` user in a process of its own (a trainer less the training), driven call by call.

    It keeps the job it acquired, as a trainer does, so a test can interleave two of them as in a lease
    takeover: the first one's lease expires while it still believes it holds the job.
    """

    def __init__(self, store_url: str, env: dict[str, str], lease_s: float):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_job_store, args=(store_url, env, lease_s, child), daemon=True)
        self._process.start()

    def __call__(self, method: str, *args):
        """Run `method` on the store with this user's job; raises the child's exception type by name."""
        self._conn.send((method, args))
        if not self._conn.poll(60):
            raise AssertionError(f"{method} did not answer within 60 s")
        ok, value = self._conn.recv()
        if not ok:
            raise JobStoreError(*value)
        return value

    def close(self) -> None:
        self._conn.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


class JobStoreError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def _serve_job_store(store_url: str, env: dict[str, str], lease_s: float, conn) -> None:
    os.environ.update(env)
    from headshots_common.blobstore import open_blob_store
    from trainer.training_jobs import TrainingJobStore

    jobs = TrainingJobStore(open_blob_store(store_url), lease_s=lease_s)
    job = None
    while (call := conn.recv()) is not None:
        method, args = call
        try:
            if method == "acquire":
                job = jobs.acquire(*args)
                result = job.lease.token if job else None
            elif method == "fail":
                reason = events_pb2.FAILURE_REASON_CANCELLED
                jobs.finish(job, error=events_pb2.TrainingFailed(reason=reason, message=args[0]))
                result = None
            else:
                result = getattr(jobs, method)(job, *args)
        except Exception as exc:
            conn.send((False, (type(exc).__name__, str(exc))))
        else:
            conn.send((True, result))
