"""Kafka worker: consumes OrderSubmitted, trains the order's adapter, publishes progress and the result.

A training job can outlast the consumer's max poll interval, so it runs in a
thread while the consumer keeps polling with its partitions paused (staying in
the group without fetching more work). The offset is committed only after the
adapter and its manifest are stored and the completion event is acknowledged.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from headshots.v1 import events_pb2
from headshots_common import bus
from headshots_common.basemodel import ensure_base_model
from headshots_common.blobstore import open_blob_store, order_prefix
from headshots_common.process import Heartbeat
from headshots_common.styles import subject_phrase
from trainer.config import HEARTBEAT_FILE_NAME, TrainerConfig
from trainer.training import TrainingParams, load_pipeline, pick_device, train_lora

log = logging.getLogger(__name__)

# At most this many progress events per second per job.
PROGRESS_EVENTS_PER_S = 2.0



def adapter_keys(order_id: str) -> tuple[str, str]:
    base = f"{order_prefix(order_id)}adapter/"
    return base + "pytorch_lora_weights.safetensors", base + "manifest.json"


class TrainerWorker:
    def __init__(self, config: TrainerConfig):
        self.config = config
        self.blobs = open_blob_store(config.shared.blob_url)
        self.base_model = ensure_base_model(config.shared.base_model, arch=config.shared.base_model_arch)
        self.device = pick_device(config.device)
        self.pipe = load_pipeline(self.base_model, self.device)
        self.producer = bus.make_producer(config.shared.kafka_bootstrap)
        self.heartbeat = Heartbeat(Path(config.shared.var_dir) / HEARTBEAT_FILE_NAME)

    # -- one job -----------------------------------------------------------------------------------------
    def handle(self, event: events_pb2.Event) -> None:
        if bus.payload_kind(event) != "order_submitted":
            return
        order_id, submitted = event.order_id, event.order_submitted
        adapter_key, manifest_key = adapter_keys(order_id)
        if self.blobs.exists(manifest_key):
            # A redelivered order: the adapter is durable, so announce it again instead of training twice.
            log.info("order %s already trained; re-publishing its completion", order_id)
            manifest = json.loads(self.blobs.get(manifest_key))
            self._publish(order_id, training_completed=self._completed(manifest, adapter_key, manifest_key, submitted))
            return
        try:
            photos = [Image.open(io.BytesIO(self.blobs.get(key))) for key in submitted.photo_keys]
        except KeyError as exc:
            self._publish(order_id, training_failed=events_pb2.TrainingFailed(
                reason=events_pb2.FAILURE_REASON_BAD_PHOTOS, message=f"photo {exc} is missing from the blob store"))
            return
        if not photos:
            self._publish(order_id, training_failed=events_pb2.TrainingFailed(
                reason=events_pb2.FAILURE_REASON_BAD_PHOTOS, message="the order has no photos"))
            return
        phrase = subject_phrase(submitted.subject_class)
        params = TrainingParams(steps=self.config.steps, rank=self.config.rank,
                                learning_rate=self.config.learning_rate, batch_size=self.config.batch_size,
                                resolution=self.config.resolution, seed=self.config.seed)
        log.info("training order %s: %d photos, %d steps", order_id, len(photos), params.steps)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                result = train_lora(self.pipe, photos, f"a photo of {phrase}", Path(tmp), params,
                                    progress=self._progress_reporter(order_id))
            finally:
                self.pipe.unet.delete_adapters("default")  # the resident UNet is shared by every job
            self.blobs.put(adapter_key, result.adapter_path.read_bytes())
        manifest = {
            "order_id": order_id, "base_model": self.base_model, "rank": params.rank, "steps": result.steps,
            "subject_phrase": phrase, "resolution": result.resolution, "seconds": round(result.seconds, 2),
            "final_loss": result.final_loss, "adapter_key": adapter_key,
        }
        self.blobs.put(manifest_key, json.dumps(manifest, indent=2).encode())  # last: marks the adapter complete
        log.info("order %s trained in %.1fs (loss %.4f)", order_id, result.seconds, result.final_loss)
        self._publish(order_id, training_completed=self._completed(manifest, adapter_key, manifest_key, submitted))

    @staticmethod
    def _completed(manifest: dict, adapter_key: str, manifest_key: str, submitted) -> events_pb2.TrainingCompleted:
        return events_pb2.TrainingCompleted(
            adapter_key=adapter_key, manifest_key=manifest_key, base_model=manifest["base_model"],
            subject_phrase=manifest["subject_phrase"], steps=manifest["steps"], seconds=manifest["seconds"],
            render_spec=submitted.render_spec,
        )

    def _progress_reporter(self, order_id: str):
        last_sent = 0.0

        def report(step: int, total: int, loss: float, eta_s: float) -> None:
            nonlocal last_sent
            now = time.monotonic()
            if step == total or now - last_sent >= 1.0 / PROGRESS_EVENTS_PER_S:
                last_sent = now
                progress = events_pb2.TrainingProgress(step=step, total_steps=total, loss=loss, eta_seconds=eta_s)
                self.producer.send(bus.TRAINING_TOPIC, key=order_id.encode(),
                                   value=bus.new_event(order_id, training_progress=progress).SerializeToString())

        return report

    def _publish(self, order_id: str, **payload) -> None:
        bus.publish(self.producer, bus.TRAINING_TOPIC, bus.new_event(order_id, **payload))

    # -- the consumer loop ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        consumer = bus.make_consumer(self.config.shared.kafka_bootstrap, self.config.consumer_group,
                                     [bus.ORDERS_TOPIC], max_poll_records=1,
                                     max_poll_interval_ms=self.config.max_poll_interval_ms)
        log.info("trainer ready on %s (base model %s)", self.device, self.base_model)
        try:
            while not stop.is_set():
                self.heartbeat.beat()
                for partition, messages in consumer.poll(timeout_ms=500).items():
                    for message in messages:
                        self._run_job_while_polling(consumer, partition, bus.decode_event(message.value), stop)
                        consumer.commit()
        finally:
            consumer.close()
            self.producer.close()

    def _run_job_while_polling(self, consumer, partition, event, stop: threading.Event) -> None:
        failure: list[BaseException] = []

        def job():
            try:
                self.handle(event)
            except BaseException as exc:  # reported below, on the consumer thread
                failure.append(exc)

        thread = threading.Thread(target=job, name=f"train-{event.order_id}", daemon=True)
        consumer.pause(partition)
        thread.start()
        while thread.is_alive():
            consumer.poll(timeout_ms=500)  # keeps the group membership alive; paused, so fetches nothing
            self.heartbeat.beat()
            thread.join(timeout=0.5)
        consumer.resume(partition)
        if failure:
            log.error("training order %s failed", event.order_id, exc_info=failure[0])
            self._publish(event.order_id, training_failed=events_pb2.TrainingFailed(
                reason=events_pb2.FAILURE_REASON_INTERNAL, message=f"training failed: {type(failure[0]).__name__}"))
