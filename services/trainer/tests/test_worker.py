"""The trainer worker against a real broker: completion, duplicates, bad photos, OOM retry, cancel, long jobs,
and the face boxes and embeddings the photo checker stored beside the selfies.

One in-process worker (a thread, real Kafka consumer group, real training on the tiny model) serves
every test of this module; TrainerService is served beside it as `python -m trainer` does.
"""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import time
from types import SimpleNamespace

import grpc
import pytest
import torch
from PIL import Image
from prometheus_client import REGISTRY
from trainer_test_support import new_order_id, order_submitted, publish_order, upload_photos

from headshots.v1 import common_pb2, events_pb2, trainer_service_pb2 as pb, trainer_service_pb2_grpc as pb_grpc
from headshots_common import blob_layout, bus, photo_analysis
from headshots_common.blobstore import open_blob_store
from headshots_common.faces import FaceAnalyzer, face_analyzer
from headshots_common.settings import SharedSettings
from headshots_tools.ports import free_port
from trainer import grpc_service, orders, priors
from trainer.config import load
from trainer.reporting import JobReporter
from trainer.training import TrainingEngine
from trainer.training_jobs import TrainingJobStore
from trainer.worker import TrainerWorker

MAX_POLL_INTERVAL_MS = 3000
SLOW_STEP_S = 0.3  # per step, for orders whose id starts with "slow-"
OOM_SUBJECT = "oomtester"  # orders with this subject class run out of memory above batch size 1
HQ = common_pb2.TRAINING_PROFILE_HIGH_QUALITY  # 2 x steps, 2 x batch, prior preservation
CLASS_IMAGES = 2


def slow_steps(real, threads_seen: set):
    """Slows chosen jobs down (on the training thread), so that they outlast the poll interval or can be
    cancelled mid-run; notes the thread every step ran on, and its torch threads, in `threads_seen`."""

    def step(self, *args):
        real(self, *args)
        threads_seen.add((threading.get_ident(), torch.get_num_threads()))
        if self.job.order_id.startswith("slow-"):
            time.sleep(SLOW_STEP_S)

    return step


def runs_out_of_memory_above_batch_1(real, attempts: list):
    """The engine's train, except that it runs out of memory above batch 1 for OOM_SUBJECT orders, as a GPU would
    (gradient checkpointing or not); every attempt's (batch, gradient checkpointing) noted in `attempts`."""

    def train(self, photos, prompt, out_dir, params, *args, **kwargs):
        if OOM_SUBJECT in prompt:
            attempts.append((params.batch_size, params.gradient_checkpointing))
            if params.batch_size > 1:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, photos, prompt, out_dir, params, *args, **kwargs)

    return train


@pytest.fixture(scope="module")
def trainer(kafka_bootstrap, tiny_model, tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("trainer")
    config = dataclasses.replace(
        load(),
        threads=1,
        shared=SharedSettings(
            var_dir=var_dir,
            kafka_bootstrap=kafka_bootstrap,
            blob_url=f"file://{var_dir}/blobs",
            base_model=tiny_model,
            base_model_arch="sd15",
        ),
        consumer_group=new_order_id("test-trainer-group"),
        max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        steps=8,
        rank=4,
        batch_size=1,
        checkpoint_every=4,
        probe_images=1,
        probe_steps=2,
        device="cpu",
        prior_preservation=None,
        num_class_images=CLASS_IMAGES,
        class_image_steps=2,
        augment_variants=1,
    )
    blobs = open_blob_store(config.shared.blob_url)
    publisher = bus.Publisher(kafka_bootstrap)
    stop = threading.Event()
    oom_attempts: list[tuple[int, bool]] = []
    threads_seen: set[tuple[int, int]] = set()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JobReporter, "step", slow_steps(JobReporter.step, threads_seen))
        patch.setattr(TrainingEngine, "train", runs_out_of_memory_above_batch_1(TrainingEngine.train, oom_attempts))
        worker = TrainerWorker(config, blobs, publisher, tiny_model, torch.device("cpu"), stop)
        port = free_port()
        server = grpc_service.serve(TrainingJobStore(blobs), publisher, "127.0.0.1", port)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield SimpleNamespace(
            worker=worker,
            blobs=blobs,
            publisher=publisher,
            jobs=TrainingJobStore(blobs),
            stub=pb_grpc.TrainerServiceStub(channel),
            oom_attempts=oom_attempts,
            threads_seen=threads_seen,
        )
        channel.close()
        stop.set()
        thread.join(timeout=30)
        server.stop(grace=0)
        publisher.close()


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def submit(trainer, person_photos, prefix="order", **kwargs) -> str:
    order_id = new_order_id(prefix)
    publish_order(
        trainer.publisher, order_id, order_submitted(upload_photos(trainer.blobs, order_id, person_photos), **kwargs)
    )
    return order_id


def wait_for_job(trainer, order_id: str, condition, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while True:
        job = trainer.jobs.load(order_id)
        if condition(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_an_order_trains_and_publishes_completed_with_a_manifest(trainer, person_photos, training_events):
    order_id = submit(trainer, person_photos)
    event = training_events.wait_for(order_id)
    assert bus.payload_kind(event) == "training_completed", event
    completed = event.training_completed
    adapter_key, manifest_key = blob_layout.adapter_key(order_id, 1), blob_layout.adapter_manifest_key(order_id, 1)
    assert (completed.adapter_key, completed.manifest_key) == (adapter_key, manifest_key), "the first lease's run"
    assert completed.subject_phrase == "sks person" and completed.steps == 8
    assert list(completed.render_spec.style_ids) == ["corporate-navy"]
    assert trainer.blobs.get(adapter_key)[:8] != b""  # safetensors header
    manifest = json.loads(trainer.blobs.get(manifest_key))
    assert manifest["token"] == "sks" and manifest["rank"] == 4 and manifest["steps"] == 8
    assert manifest["prior_preservation"] is None, "off for the standard profile unless configured"
    assert len(manifest["base_model_hash"]) == 64 and manifest["resumed_from_step"] == 0
    assert set(manifest["metrics"]) >= {"final_loss", "likeness", "probe_images", "probe_faces"}
    assert 0.0 <= manifest["metrics"]["likeness"] <= 1.0

    progress = training_events.of(order_id, "training_progress")
    assert progress and progress[-1].step == progress[-1].total_steps == 8
    assert progress[-1].eta_seconds == pytest.approx(0.0, abs=1e-6)
    assert [p.step for p in progress] == sorted(p.step for p in progress)
    # Recorded as published once the broker took the event, a moment after the test may have read it.
    job = wait_for_job(trainer, order_id, lambda job: job.published)
    assert job.training.state == pb.TRAINING_STATE_SUCCEEDED and job.training.done and job.published
    assert job.lease.token == 1 and job.lease.holder == trainer.worker.worker_id
    stored = trainer.blobs.list(blob_layout.training_prefix(order_id))
    assert not [k for k in stored if blob_layout.is_checkpoint_key(order_id, k)], (
        "checkpoints go once the adapter is stored"
    )


def test_a_duplicate_order_message_trains_once(trainer, person_photos, training_events):
    duplicates_before = metric("trainer_duplicate_orders_total")
    order_id = new_order_id("dup")
    submitted = order_submitted(upload_photos(trainer.blobs, order_id, person_photos[:3]))
    publish_order(trainer.publisher, order_id, submitted)
    publish_order(trainer.publisher, order_id, submitted)  # a retried send from the gateway's relay
    training_events.wait_for(order_id)
    deadline = time.monotonic() + 60
    while metric("trainer_duplicate_orders_total") < duplicates_before + 1:
        assert time.monotonic() < deadline, "the second message was never consumed"
        time.sleep(0.2)
    assert len(training_events.of(order_id, "training_completed")) == 1
    assert [p.step for p in training_events.of(order_id, "training_progress")].count(1) == 1, "trained once"


@pytest.mark.parametrize(
    "photo, reason_text",
    [
        (b"this is not a jpeg", "not a readable image"),
        ("no face", "no face found"),
    ],
)
def test_bad_photos_fail_with_a_reason(trainer, person_photos, training_events, photo, reason_text):
    if photo == "no face":
        buffer = io.BytesIO()
        Image.new("RGB", (256, 256), (120, 160, 200)).save(buffer, format="JPEG")
        photo = buffer.getvalue()
    order_id = new_order_id("bad")
    publish_order(trainer.publisher, order_id, order_submitted(upload_photos(trainer.blobs, order_id, [photo])))
    event = training_events.wait_for(order_id)
    assert bus.payload_kind(event) == "training_failed"
    assert event.training_failed.reason == events_pb2.FAILURE_REASON_BAD_PHOTOS
    assert reason_text in event.training_failed.message
    assert trainer.jobs.load(order_id).training.state == pb.TRAINING_STATE_FAILED


def test_an_order_whose_runs_kept_stalling_fails_with_a_reason_instead_of_moving_on_again(
    trainer, person_photos, training_events
):
    order_id = new_order_id("stalls")
    for n in range(orders.MAX_STALLED_RUNS):  # workers that each hung on it and handed it over
        job = trainer.jobs.acquire(order_id, f"hung-worker-{n}")
        trainer.jobs.start_run(job, 0)
        trainer.jobs.give_up(job)
    publish_order(
        trainer.publisher, order_id, order_submitted(upload_photos(trainer.blobs, order_id, person_photos[:3]))
    )
    event = training_events.wait_for(order_id)
    assert bus.payload_kind(event) == "training_failed", event
    assert event.training_failed.reason == events_pb2.FAILURE_REASON_STALLED
    assert f"stalled {orders.MAX_STALLED_RUNS} times" in event.training_failed.message
    assert not training_events.of(order_id, "training_progress"), "it did not train again"


def test_out_of_memory_is_retried_with_gradient_checkpointing_then_a_smaller_batch(
    trainer, person_photos, training_events
):
    order_id = submit(trainer, person_photos[:3], profile=HQ, subject_class=OOM_SUBJECT)
    event = training_events.wait_for(order_id)
    assert bus.payload_kind(event) == "training_completed", event
    manifest = json.loads(trainer.blobs.get(blob_layout.adapter_manifest_key(order_id, 1)))
    assert manifest["batch_size"] == 1 and manifest["steps"] == 16
    # Gradient checkpointing is off until memory runs out, and tried before the batch is halved.
    assert trainer.oom_attempts == [(2, False), (2, True), (1, True)]


def test_high_quality_orders_share_class_images_generated_once(trainer, person_photos, training_events, monkeypatch):
    generated = []
    real = priors.generate_class_images
    monkeypatch.setattr(priors, "generate_class_images", lambda *a, **k: generated.append(a[2]) or real(*a, **k))
    first = submit(trainer, person_photos[:1], profile=HQ, subject_class="woman")
    assert bus.payload_kind(training_events.wait_for(first)) == "training_completed"
    manifest = json.loads(trainer.blobs.get(blob_layout.adapter_manifest_key(first, 1)))
    prior = manifest["prior_preservation"]
    assert prior["class_prompt"] == "a photo of woman" and prior["class_images"] == CLASS_IMAGES
    prefix = prior["class_images_prefix"]
    assert prefix == f"priors/{manifest['base_model_hash']}/woman/128/"
    keys = trainer.blobs.list(prefix)
    assert keys == [f"{prefix}{i:03d}.png" for i in range(CLASS_IMAGES)]
    stamps = {key: trainer.blobs.local_path(key).stat().st_mtime_ns for key in keys}
    assert generated == [list(range(CLASS_IMAGES))]

    second = submit(trainer, person_photos[:1], profile=HQ, subject_class="woman")
    assert bus.payload_kind(training_events.wait_for(second)) == "training_completed"
    assert generated == [list(range(CLASS_IMAGES))], "the second order reused the stored class images"
    assert {key: trainer.blobs.local_path(key).stat().st_mtime_ns for key in trainer.blobs.list(prefix)} == stamps
    assert json.loads(trainer.blobs.get(blob_layout.adapter_manifest_key(second, 1)))["prior_preservation"] == prior
    assert manifest["augment_variants"] == 1 and manifest["train_text_encoder"] is False


def test_a_job_longer_than_the_max_poll_interval_neither_rebalances_nor_repeats(
    trainer, person_photos, training_events
):
    revoked_before = trainer.worker.rebalance_listener.revoked
    order_id = submit(trainer, person_photos[:3], prefix="slow", profile=HQ)  # 16 slowed steps
    event = training_events.wait_for(order_id)
    assert bus.payload_kind(event) == "training_completed", event
    assert event.training_completed.seconds > MAX_POLL_INTERVAL_MS / 1000
    assert trainer.worker.rebalance_listener.revoked == revoked_before, "the group rebalanced during the job"
    follow_up = submit(trainer, person_photos[:2])  # the worker is still in the group and takes more work
    assert bus.payload_kind(training_events.wait_for(follow_up)) == "training_completed"
    assert len(training_events.of(order_id, "training_completed")) == 1
    assert [p.step for p in training_events.of(order_id, "training_progress")].count(1) == 1


def test_grpc_submit_is_idempotent_and_cancel_stops_a_running_job(trainer, person_photos, training_events):
    order_id = new_order_id("slow")
    request = pb.SubmitTrainingRequest(
        request_id=f"req-{order_id}",
        order_id=order_id,
        tenant_id="t-1",
        subject_class="person",
        photo_keys=upload_photos(trainer.blobs, order_id, person_photos[:3]),
        training_profile=HQ,
    )
    first = trainer.stub.SubmitTraining(request, timeout=10).training
    again = trainer.stub.SubmitTraining(request, timeout=10).training
    assert first.name == again.name == f"trainings/{order_id}"
    assert first.state == pb.TRAINING_STATE_QUEUED and not first.done

    watch = trainer.stub.WatchTraining(pb.WatchTrainingRequest(name=first.name), timeout=120)
    for update in watch:
        if update.training.state == pb.TRAINING_STATE_RUNNING and update.training.progress.step >= 1:
            break
    cancelled_at = time.monotonic()
    trainer.stub.CancelTraining(pb.CancelTrainingRequest(name=first.name), timeout=10)
    event = training_events.wait_for(order_id)
    assert time.monotonic() - cancelled_at < 5, "cancellation stops the job within seconds"
    assert event.training_failed.reason == events_pb2.FAILURE_REASON_CANCELLED
    final = [u.training for u in watch][-1]
    assert final.state == pb.TRAINING_STATE_CANCELLED and final.done
    assert final.progress.step < final.progress.total_steps
    assert (
        trainer.stub.GetTraining(pb.GetTrainingRequest(name=first.name), timeout=10).training.state
        == pb.TRAINING_STATE_CANCELLED
    )
    assert not trainer.blobs.list(blob_layout.adapter_prefix(order_id)), "a cancelled job stores no adapter"
    with pytest.raises(grpc.RpcError) as missing:
        trainer.stub.GetTraining(pb.GetTrainingRequest(name="trainings/nope"), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def _analysed(blobs, keys: list[str]) -> None:
    """Store beside each photo what the photo checker stores: its face box and embedding, as it computes them."""
    analyzer = face_analyzer()
    for key in keys:
        image = Image.open(io.BytesIO(blobs.get(key))).convert("RGB")
        face = max(analyzer.find_faces(image), key=lambda f: f.width * f.height)
        embedding = analyzer.analyse(image, face).embedding
        blobs.put(blob_layout.photo_analysis_key(key), photo_analysis.encode(face, embedding, *image.size))


def _large(photo) -> bytes:
    """A fixture photo at 1,600 px wide, as a phone would send it."""
    image = Image.open(photo).convert("RGB")
    buffer = io.BytesIO()
    image.resize((1600, round(1600 * image.height / image.width))).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture
def detections(monkeypatch):
    """The size of every image the trainer's face detector looked at (the real detector runs)."""
    seen: list[tuple[int, int]] = []
    real = FaceAnalyzer.detect

    def detect(self, image, upsample=1):
        seen.append(image.size)
        return real(self, image, upsample)

    monkeypatch.setattr(FaceAnalyzer, "detect", detect)
    return seen


def test_photos_the_checker_analysed_are_not_looked_at_again(trainer, person_photos, training_events, detections):
    order_id = new_order_id("analysed")
    keys = upload_photos(trainer.blobs, order_id, person_photos[:3])
    _analysed(trainer.blobs, keys)
    detections.clear()
    publish_order(trainer.publisher, order_id, order_submitted(keys))
    event = training_events.wait_for(order_id)
    assert bus.payload_kind(event) == "training_completed", event
    probe_size = (128, 128)  # the likeness probes' renders are looked at for a face: that is their purpose
    assert [size for size in detections if size != probe_size] == [], "a selfie's face was detected again"
    manifest = json.loads(trainer.blobs.get(event.training_completed.manifest_key))
    assert manifest["metrics"]["face_detections"] == 0


def test_photos_without_an_analysis_are_looked_at_once_on_a_small_copy(
    trainer, person_photos, training_events, detections
):
    order_id = new_order_id("older")
    keys = upload_photos(trainer.blobs, order_id, [_large(person_photos[0]), person_photos[1], person_photos[2]])
    _analysed(trainer.blobs, keys[1:])  # the first photo comes from an order placed before the photo checker
    detections.clear()
    publish_order(trainer.publisher, order_id, order_submitted(keys))
    event = training_events.wait_for(order_id)
    assert bus.payload_kind(event) == "training_completed", event
    selfies = [size for size in detections if size != (128, 128)]
    assert selfies == [(800, 640)], "only the photo without an analysis, on a copy of at most 800 px, once"
    manifest = json.loads(trainer.blobs.get(event.training_completed.manifest_key))
    assert manifest["metrics"]["face_detections"] == 1


def test_every_job_runs_on_the_worker_s_one_torch_thread(trainer, person_photos, training_events):
    """One OpenMP team per worker: a thread per job made a team per job, and a second team makes every op sleep."""
    for _ in range(2):
        assert bus.payload_kind(training_events.wait_for(submit(trainer, person_photos[:1]))) == "training_completed"
    assert trainer.threads_seen == {(trainer.worker.torch.ident, 1)}, "HEADSHOTS_TRAIN_THREADS=1 on one thread"
