"""One job's training: from the order's photos to its adapter in the blob store and the adapter's manifest.

- the photos come with the face boxes and embeddings the photo checker stored beside them (`trainer.photos`);
  faces are looked for only where none was stored;
- prior preservation's class images come from the prefix every order of the class shares (`trainer.priors`), kept
  by the worker after its first job of a class (the engine keeps their latents);
- a run resumes from the job's last checkpoint when an earlier run left one;
- out of memory, the run is tried again from the last checkpoint: first at the same batch with gradient
  checkpointing, then at half the batch (down to 1);
- the adapter is stored under the run's lease token (a stale run can never overwrite the one that counts), then
  the likeness probes render with it, then the manifest says how it was made.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from headshots.v1 import events_pb2
from headshots_common import blob_layout
from headshots_common.adapter_format import AdapterManifest, PriorPreservation
from headshots_common.basemodel import native_resolution
from headshots_common.blobstore import BlobStore
from headshots_common.styles import IDENTIFIER_TOKEN, subject_phrase
from trainer import metrics
from trainer.config import TrainerConfig
from trainer.photos import FacePhoto, detections, locate_faces
from trainer.priors import class_prompt, ensure_class_images, model_id
from trainer.training import Checkpoint, PriorData, TrainingControl, TrainingEngine, training_params
from trainer.training_jobs import TrainingJob, TrainingJobStore

log = logging.getLogger(__name__)

CLASS_SETS_KEPT = 4  # class-image sets a worker keeps in memory (one per subject class and resolution in use)


class JobTraining:
    """The training phase of a worker's jobs (one at a time, on its torch thread)."""

    def __init__(
        self,
        config: TrainerConfig,
        blobs: BlobStore,
        jobs: TrainingJobStore,
        engine: TrainingEngine,
        base_model: str,
        base_model_digest: str,
    ):
        self.config, self.blobs, self.jobs, self.engine = config, blobs, jobs, engine
        self.base_model, self.base_model_digest = base_model, base_model_digest
        self._class_sets: dict[str, PriorData] = {}

    def run(
        self,
        job: TrainingJob,
        submitted: events_pb2.OrderSubmitted,
        photos: list[FacePhoto],
        control: TrainingControl,
        mark: Callable[[], None],
    ) -> AdapterManifest:
        """Train (resuming from the job's checkpoint if it has one), store the adapter, return its manifest.
        `mark`: progress of the job between its steps (each phase done). Raises BadPhotos, TrainingStopped,
        torch.OutOfMemoryError (at batch 1), LeaseLost, OrderDeleted."""
        order_id, config, engine = job.order_id, self.config, self.engine
        params = training_params(config, submitted.training_profile)
        phrase = subject_phrase(submitted.subject_class)
        prompt = f"a photo of {phrase}"
        photos = locate_faces(photos)  # only where the photo checker stored no face
        mark()
        prior = None
        if config.uses_prior_preservation(submitted.training_profile):
            prior = self._prior(submitted, mark)
        stored = self.jobs.load_checkpoint(job)
        resume = Checkpoint.from_bytes(stored) if stored else None
        resumed_from = resume.step if resume else 0
        if resume:
            metrics.RESUMED.inc()
        self.jobs.start_run(job, resumed_from)
        mark()
        while True:
            log.info(
                "training order %s: %d photos, %d steps, batch %d%s%s",
                order_id,
                len(photos),
                params.steps,
                params.batch_size,
                ", gradient checkpointing" if params.gradient_checkpointing else "",
                f", from step {resume.step}" if resume else "",
            )
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    try:
                        result = engine.train(photos, prompt, Path(tmp), params, control, resume, prior)
                        mark()
                        # Under this run's lease token: a stale run can never overwrite the adapter that counts.
                        adapter_key = blob_layout.adapter_key(order_id, job.lease.token)
                        self.blobs.put(adapter_key, result.adapter_path.read_bytes())
                        mark()
                        quality = engine.probe_likeness(
                            f"professional headshot photo of {phrase}",
                            photos,
                            config.probe_images,
                            config.probe_steps,
                            seed=config.seed,
                        )
                    finally:
                        engine.detach()  # the resident pipeline renders the next job's class images plain
                break
            except torch.OutOfMemoryError:
                params = self._smaller(params)  # raises at batch 1 with gradient checkpointing already on
                torch.cuda.empty_cache()
                stored = self.jobs.load_checkpoint(job)
                resume = Checkpoint.from_bytes(stored) if stored else None
                log.warning(
                    "order %s ran out of memory; retrying at batch %d with gradient checkpointing",
                    order_id,
                    params.batch_size,
                )
        mark()
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
            batch_size=params.batch_size,
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
                class_images_prefix=prior.key,
            ),
            train_text_encoder=params.train_text_encoder,
            augment_variants=params.augment_variants,
            metrics={"final_loss": result.final_loss, **quality, "face_detections": detections(photos)},
        )

    @staticmethod
    def _smaller(params):
        """What to try after running out of memory: gradient checkpointing first (same batch, slower steps), then
        half the batch."""
        if not params.gradient_checkpointing:
            return dataclasses.replace(params, gradient_checkpointing=True)
        if params.batch_size == 1:
            raise torch.OutOfMemoryError("out of memory at batch size 1 with gradient checkpointing")
        return dataclasses.replace(params, batch_size=params.batch_size // 2)

    def _prior(self, submitted, mark: Callable[[], None]) -> PriorData:
        """The order's class images: read from the shared prefix (generated there by the first order of a class),
        once per worker and class."""
        resolution = self.config.resolution or native_resolution(self.engine.pipe)
        prefix = blob_layout.class_images_prefix(
            model_id(self.base_model, self.base_model_digest), submitted.subject_class, resolution
        )
        prior = self._class_sets.get(prefix)
        if prior is None:
            prompt = class_prompt(submitted.subject_class)
            images = ensure_class_images(
                self.blobs,
                self.engine.pipe,
                prefix,
                prompt,
                self.config.num_class_images,
                resolution,
                self.config.class_image_steps,
                progress=mark,
            )
            prior = PriorData(images=images, prompt=prompt, key=prefix)
            while len(self._class_sets) >= CLASS_SETS_KEPT:
                self._class_sets.pop(next(iter(self._class_sets)))
            self._class_sets[prefix] = prior
        mark()
        return prior
