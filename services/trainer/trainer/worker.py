"""Kafka worker: consumes OrderSubmitted, trains the order's adapter, publishes progress and the result.

Exactly once in effect, also when a partition moves between workers mid-job:
- the job record in the blob store (trainer.training_jobs) says whether an order was trained and whether
  its outcome was announced, so a redelivered or duplicate message never trains again;
- the worker that trains an order holds the record's lease, renewing it while it works; another worker that
  receives the order meanwhile waits for the job to finish or the lease to expire, and only then takes
  over, from the last checkpoint; a stale holder's writes are refused and it stops;
- the offset is committed only after the adapter and the outcome event are durable; the order's
  tombstone stops a job within a second of the order's deletion, and nothing of it is kept.

A job can outlast the consumer's max poll interval, so it runs in a thread while the consumer keeps
polling with its partitions paused (staying in the group without fetching more work).
"""

from __future__ import annotations

import io
import logging
import os
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from kafka.errors import CommitFailedError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata
from PIL import Image, UnidentifiedImageError

from headshots.v1 import events_pb2, trainer_service_pb2 as pb
from headshots_common import blob_layout, bus, logs, tracing
from headshots_common.adapter_format import AdapterManifest, PriorPreservation
from headshots_common.basemodel import base_model_hash, native_resolution
from headshots_common.blobstore import BlobStore, OrderDeleted
from headshots_common.lifecycle import heartbeat_of
from headshots_common.metrics import ConsumerLag
from headshots_common.styles import IDENTIFIER_TOKEN, subject_phrase
from trainer import metrics
from trainer.config import TrainerConfig
from trainer.priors import class_prompt, ensure_class_images, model_id
from trainer.training import (
    BadPhotos,
    Checkpoint,
    PriorData,
    TrainingControl,
    TrainingParams,
    TrainingStopped,
    load_pipeline,
    probe_likeness,
    remove_adapters,
    train_lora,
)
from trainer.training_jobs import LeaseKeeper, LeaseLost, TrainingJob, TrainingJobStore

log = logging.getLogger(__name__)

# At most this many progress events (and job-record updates, and cancel and deletion checks) per second per job.
PROGRESS_EVENTS_PER_S = 2.0
REASON = events_pb2.FailureReason


class WorkerStopping(Exception):
    """The process is shutting down mid-job: the job is checkpointed and its message stays uncommitted."""


class TrainerWorker:
    def __init__(
        self,
        config: TrainerConfig,
        blobs: BlobStore,
        publisher: bus.Publisher,
        base_model: str,
        device: torch.device,
        stop: threading.Event,
        worker_id: str = "",
    ):
        self.config = config
        self.blobs = blobs
        self.jobs = TrainingJobStore(blobs, lease_s=config.lease_s)
        self.publisher = publisher
        self.base_model = base_model
        self.base_model_digest = base_model_hash(base_model)
        self.device = device
        self.stop = stop
        # Names the lease holder: unique per process and worker, so a restarted process never mistakes a
        # dead predecessor's lease for its own.
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self.pipe = load_pipeline(base_model, device)
        self.heartbeat = heartbeat_of(config.shared.var_dir, config.process_name)
        self.rebalance_listener = metrics.RevocationCounter()

    # -- one order -------------------------------------------------------------------------------------------
    def handle(self, event: events_pb2.Event, traceparent: str = "") -> None:
        """Bring one order's job to a published outcome. Raises WorkerStopping on shutdown.

        `traceparent`: the order's trace, from the record's headers; the training span and the events this job
        publishes belong to it.
        """
        if bus.payload_kind(event) != "order_submitted":
            return
        order_id = event.order_id
        with (
            logs.log_context(order_id=order_id, tenant=event.order_submitted.tenant_id),
            tracing.span("training", traceparent, attributes={"order.id": order_id, "worker": self.worker_id}),
        ):
            self._handle_event(event)

    def _handle_event(self, event: events_pb2.Event) -> None:
        order_id = event.order_id
        try:
            self._handle_order(order_id, event.order_submitted, event.occur_time.ToDatetime(tzinfo=UTC))
        except OrderDeleted:
            log.info("order %s was deleted: its training stopped and nothing of it was kept", order_id)
            metrics.JOBS.labels("deleted").inc()
            self._take_back(order_id)
        except LeaseLost as exc:
            log.warning("order %s: %s; its new holder finishes it", order_id, exc)
            metrics.LEASES_LOST.inc()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # give the finished (or abandoned) job's memory back to the GPU

    def _take_back(self, order_id: str) -> None:
        """What this worker may have written before it saw the deletion (the tombstone refuses anything new)."""
        self.blobs.delete_prefix(blob_layout.order_prefix(order_id))

    def _acquire(self, order_id: str) -> TrainingJob | None:
        """The job with this worker holding its lease, or finished; None while another worker keeps working on it.

        A live lease held by another worker means the order moved here while that worker still trains it (a
        rebalance), or that worker died: wait until the job finishes or the lease expires, then decide.
        """
        deadline = time.monotonic() + self.jobs.lease_s + 5
        while True:
            job = self.jobs.acquire(order_id, self.worker_id)
            if job is not None or time.monotonic() > deadline or self.stop.is_set():
                return job
            self.stop.wait(1.0)

    def _handle_order(self, order_id: str, submitted: events_pb2.OrderSubmitted, submitted_at: datetime) -> None:
        if self.blobs.is_deleted(order_id):
            raise OrderDeleted(order_id)
        job = self._acquire(order_id)
        if job is None:
            log.info("order %s is being trained by another worker; it will finish it", order_id)
            return
        if job.done:
            if not job.published and job.lease.held_by_another(self.worker_id, time.time()):
                return  # its holder finished a moment ago and is announcing it
            if job.published and not submitted.resubmitted:
                log.info(
                    "order %s was already %s; skipping the duplicate message",
                    order_id,
                    pb.TrainingState.Name(job.training.state),
                )
                metrics.DUPLICATES.inc()
            else:  # never announced, or announced to a broker that since lost it: the gateway asks again
                self._announce(job)
            return
        if job.lease.token > 1:
            metrics.TAKEOVERS.inc()
        if self.jobs.cancel_requested(order_id):
            self._fail(job, REASON.FAILURE_REASON_CANCELLED, "cancelled before training started")
            return
        if not job.training.progress.step:  # a first start, not a resumption: the order waited this long in the queue
            metrics.QUEUE_WAIT_SECONDS.observe(max(0.0, (datetime.now(UTC) - submitted_at).total_seconds()))
        try:
            photos = self._load_photos(submitted)
            metrics.JOBS_RUNNING.inc()
            try:
                with LeaseKeeper(self.jobs, job) as keeper:
                    manifest = self._train(job, submitted, photos, keeper)
            finally:
                metrics.JOBS_RUNNING.dec()
        except BadPhotos as exc:
            self._fail(job, REASON.FAILURE_REASON_BAD_PHOTOS, str(exc))
        except TrainingStopped as exc:
            if keeper.deleted or self.blobs.is_deleted(order_id):
                raise OrderDeleted(order_id) from exc
            if keeper.lost:
                raise LeaseLost(f"order {order_id}: the lease was taken over at step {exc.step}") from exc
            if not self.jobs.cancel_requested(order_id):
                raise WorkerStopping() from exc
            self._fail(job, REASON.FAILURE_REASON_CANCELLED, f"cancelled at step {exc.step}")
            self.jobs.delete_checkpoints(order_id)
        except torch.OutOfMemoryError:
            self._fail(job, REASON.FAILURE_REASON_OUT_OF_MEMORY, "out of memory even at batch size 1")
        except (LeaseLost, OrderDeleted):
            raise
        except Exception as exc:
            log.exception("training order %s failed", order_id)
            self._fail(job, REASON.FAILURE_REASON_INTERNAL, f"training failed: {type(exc).__name__}")
        else:
            try:  # the commit point: the record says which run's adapter counts
                completed = self.jobs.finish(job, result=self._completed(manifest, submitted, job.lease.token))
            except LeaseLost:
                self.blobs.delete(manifest.adapter_key)  # this run's adapter: the new holder's counts
                raise
            self.blobs.put(blob_layout.adapter_manifest_key(order_id, job.lease.token), manifest.to_json())
            self.jobs.delete_checkpoints(order_id)
            metrics.JOBS.labels("succeeded").inc()
            self._announce(completed)

    def _load_photos(self, submitted) -> list[Image.Image]:
        if not submitted.photo_keys:
            raise BadPhotos("the order has no photos")
        photos: list[Image.Image] = []
        for key in submitted.photo_keys:
            try:
                photo = Image.open(io.BytesIO(self.blobs.get(key)))
                photo.load()
            except KeyError:
                raise BadPhotos(f"photo {key} is missing from the blob store") from None
            except (UnidentifiedImageError, OSError):
                raise BadPhotos(f"photo {key} is not a readable image") from None
            photos.append(photo)
        return photos

    def _train(self, job: TrainingJob, submitted, photos: list[Image.Image], keeper: LeaseKeeper) -> AdapterManifest:
        """Train (resuming from the job's checkpoint if it has one), store the adapter, return its manifest."""
        order_id, config = job.order_id, self.config
        steps, batch_size = config.steps_and_batch(submitted.training_profile)
        phrase = subject_phrase(submitted.subject_class)
        prompt = f"a photo of {phrase}"
        prior = self._prior(submitted) if config.uses_prior_preservation(submitted.training_profile) else None
        stored = self.jobs.load_checkpoint(job)
        resume = Checkpoint.from_bytes(stored) if stored else None
        resumed_from = resume.step if resume else 0
        if resume:
            metrics.RESUMED.inc()
        control = TrainingControl(
            progress=self._progress_reporter(job),
            checkpoint_every=config.checkpoint_every,
            save_checkpoint=lambda c: self.jobs.save_checkpoint(job, c.to_bytes()),
            should_stop=self._stop_checker(order_id, keeper),
        )
        while True:
            params = TrainingParams(
                steps=steps,
                rank=config.rank,
                learning_rate=config.learning_rate,
                batch_size=batch_size,
                resolution=config.resolution,
                seed=config.seed,
                prior_loss_weight=config.prior_loss_weight,
                train_text_encoder=config.train_text_encoder,
                augment_variants=config.augment_variants,
            )
            log.info(
                "training order %s: %d photos, %d steps, batch %d%s",
                order_id,
                len(photos),
                steps,
                batch_size,
                f", from step {resume.step}" if resume else "",
            )
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    try:
                        result = train_lora(
                            self.pipe, photos, prompt, Path(tmp), params, control=control, resume=resume, prior=prior
                        )
                        quality = probe_likeness(
                            self.pipe,
                            f"professional headshot photo of {phrase}",
                            photos,
                            config.probe_images,
                            config.probe_steps,
                            seed=config.seed,
                        )
                    finally:
                        remove_adapters(self.pipe)  # the resident pipeline is shared by every job of this worker
                    # Under this run's lease token: a stale run can never overwrite the adapter that counts.
                    adapter_key = blob_layout.adapter_key(order_id, job.lease.token)
                    self.blobs.put(adapter_key, result.adapter_path.read_bytes())
                break
            except torch.OutOfMemoryError:
                if batch_size == 1:
                    raise
                batch_size //= 2
                torch.cuda.empty_cache()
                stored = self.jobs.load_checkpoint(job)
                resume = Checkpoint.from_bytes(stored) if stored else None
                log.warning("order %s ran out of memory; retrying with batch size %d", order_id, batch_size)
        log.info(
            "order %s trained in %.1fs (loss %.4f, likeness %.3f)",
            order_id,
            result.seconds,
            result.final_loss,
            quality["likeness"],
        )
        return AdapterManifest(
            order_id=order_id,
            adapter_key=adapter_key,
            base_model=self.base_model,
            base_model_hash=self.base_model_digest,
            base_model_arch=config.shared.base_model_arch,
            token=IDENTIFIER_TOKEN,
            subject_phrase=phrase,
            instance_prompt=prompt,
            rank=params.rank,
            steps=result.steps,
            batch_size=batch_size,
            learning_rate=params.learning_rate,
            resolution=result.resolution,
            resumed_from_step=resumed_from,
            seconds=round(result.seconds, 2),
            prior_preservation=None
            if prior is None
            else PriorPreservation(
                class_prompt=prior.prompt,
                class_images=len(prior.images),
                prior_loss_weight=params.prior_loss_weight,
                class_images_prefix=self._class_images_prefix(submitted),
            ),
            train_text_encoder=params.train_text_encoder,
            augment_variants=params.augment_variants,
            metrics={"final_loss": result.final_loss, **quality},
        )

    def _class_images_prefix(self, submitted) -> str:
        resolution = self.config.resolution or native_resolution(self.pipe)
        return blob_layout.class_images_prefix(
            model_id(self.base_model, self.base_model_digest), submitted.subject_class, resolution
        )

    def _prior(self, submitted) -> PriorData:
        """The order's class images: read from the shared prefix, generated there by the first order of a class."""
        prompt = class_prompt(submitted.subject_class)
        resolution = self.config.resolution or native_resolution(self.pipe)
        images = ensure_class_images(
            self.blobs,
            self.pipe,
            self._class_images_prefix(submitted),
            prompt,
            self.config.num_class_images,
            resolution,
            self.config.class_image_steps,
        )
        return PriorData(images=images, prompt=prompt)

    def _stop_checker(self, order_id: str, keeper: LeaseKeeper):
        """True on shutdown, once the lease is lost, or once a cancel request or the order's tombstone shows up
        (both looked up at the progress rate)."""
        last_check, ended = 0.0, False

        def should_stop() -> bool:
            nonlocal last_check, ended
            now = time.monotonic()
            if not ended and now - last_check >= 1.0 / PROGRESS_EVENTS_PER_S:
                last_check = now
                ended = self.jobs.cancel_requested(order_id) or self.blobs.is_deleted(order_id)
            return ended or keeper.lost or keeper.deleted or self.stop.is_set()

        return should_stop

    def _progress_reporter(self, job: TrainingJob):
        last_sent, last_step_at = 0.0, None

        def report(step: int, total: int, loss: float, eta_s: float) -> None:
            nonlocal last_sent, last_step_at
            now = time.monotonic()
            if last_step_at is not None:
                metrics.STEP_SECONDS.observe(now - last_step_at)
            last_step_at = now
            if step == total or now - last_sent >= 1.0 / PROGRESS_EVENTS_PER_S:
                last_sent = now
                progress = events_pb2.TrainingProgress(step=step, total_steps=total, loss=loss, eta_seconds=eta_s)
                self.publisher.publish_soon(
                    bus.TRAINING_TOPIC,
                    bus.new_event(job.order_id, training_progress=progress),
                    tracing.current_traceparent(),
                )
                self.jobs.set_progress(job, progress)

        return report

    # -- outcomes ----------------------------------------------------------------------------------------------
    @staticmethod
    def _completed(manifest: AdapterManifest, submitted, lease_token: int) -> events_pb2.TrainingCompleted:
        return events_pb2.TrainingCompleted(
            adapter_key=manifest.adapter_key,
            manifest_key=blob_layout.adapter_manifest_key(manifest.order_id, lease_token),
            base_model=manifest.base_model,
            subject_phrase=manifest.subject_phrase,
            steps=manifest.steps,
            seconds=manifest.seconds,
            render_spec=submitted.render_spec,
            likeness=manifest.metrics.get("likeness", 0.0),
        )

    def _fail(self, job: TrainingJob, reason: events_pb2.FailureReason, message: str) -> None:
        log.warning("order %s failed (%s): %s", job.order_id, REASON.Name(reason), message)
        metrics.FAILURES.labels(REASON.Name(reason)).inc()
        metrics.JOBS.labels("cancelled" if reason == REASON.FAILURE_REASON_CANCELLED else "failed").inc()
        self._announce(self.jobs.finish(job, error=events_pb2.TrainingFailed(reason=reason, message=message)))

    def _announce(self, job: TrainingJob) -> None:
        """Publish the job's outcome, then record that it was published."""
        if job.training.HasField("result"):
            event = bus.new_event(job.order_id, training_completed=job.training.result)
        else:
            event = bus.new_event(job.order_id, training_failed=job.training.error)
        self.publisher.publish(bus.TRAINING_TOPIC, event, traceparent=tracing.current_traceparent())
        self.jobs.mark_published(job)

    # -- the consumer loop -------------------------------------------------------------------------------------
    def run(self) -> None:
        consumer = bus.make_consumer(
            self.config.shared.kafka_bootstrap,
            self.config.consumer_group,
            [bus.ORDERS_TOPIC],
            listener=self.rebalance_listener,
            max_poll_records=1,
            max_poll_interval_ms=self.config.max_poll_interval_ms,
        )
        log.info("trainer worker ready on %s (base model %s)", self.device, self.base_model)
        lag = ConsumerLag(self.config.consumer_group)
        try:
            while not self.stop.is_set():
                self.heartbeat.beat()
                for partition, messages in consumer.poll(timeout_ms=500).items():
                    for message in messages:
                        event, traceparent = (
                            bus.decode_event(message.value),
                            tracing.traceparent_from_kafka(message.headers),
                        )
                        if not self._run_job_while_polling(consumer, event, traceparent, lag):
                            return  # shutting down mid-job: uncommitted, so the next worker resumes it
                        try:
                            consumer.commit({partition: OffsetAndMetadata(message.offset + 1, "", -1)})
                        except (CommitFailedError, RebalanceInProgressError):  # moved: its new owner sees it done
                            log.warning(
                                "could not commit order %s: partition reassigned",
                                event.order_id,
                                extra={"order_id": event.order_id},
                            )
        finally:
            consumer.close()

    def _run_job_while_polling(self, consumer, event: events_pb2.Event, traceparent: str, lag: ConsumerLag) -> bool:
        """Run the job in a thread, polling meanwhile; False when the worker is stopping before it finished.

        An unexpected error (the blob store or the broker unreachable) is raised here: the process exits with
        the message uncommitted, and a restarted worker picks the job up again.
        """
        outcome: dict = {"finished": False, "error": None}

        def job():
            try:
                self.handle(event, traceparent)
                outcome["finished"] = True
            except WorkerStopping:
                log.info(
                    "stopping: order %s is checkpointed and will be resumed",
                    event.order_id,
                    extra={"order_id": event.order_id},
                )
            except BaseException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=job, name=f"train-{event.order_id}", daemon=True)
        thread.start()
        while thread.is_alive():
            # Paused again on every turn: a rebalance hands back partitions unpaused.
            consumer.pause(*consumer.assignment())
            for partition, records in consumer.poll(timeout_ms=500).items():
                consumer.seek(partition, records[0].offset)  # never drop a record fetched while busy
            lag.report(consumer)
            self.heartbeat.beat()
            thread.join(timeout=0.1)
        consumer.resume(*consumer.paused())
        if outcome["error"] is not None:
            raise RuntimeError(f"order {event.order_id}: the job could not run") from outcome["error"]
        return outcome["finished"]
