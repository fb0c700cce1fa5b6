"""The trainer's configuration, read once from environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from headshots.v1 import common_pb2
from headshots_common.settings import SharedSettings, env_bool, env_float, env_int, env_str


@dataclass(frozen=True)
class Profile:
    """How a training profile scales the configured (standard) steps and batch size."""

    steps_factor: float
    batch_factor: int
    prior_preservation: bool = False  # unless HEADSHOTS_TRAIN_PRIOR_PRESERVATION says otherwise


PROFILES = {
    common_pb2.TRAINING_PROFILE_FAST: Profile(steps_factor=0.5, batch_factor=1),
    common_pb2.TRAINING_PROFILE_STANDARD: Profile(steps_factor=1.0, batch_factor=1),
    common_pb2.TRAINING_PROFILE_HIGH_QUALITY: Profile(steps_factor=2.0, batch_factor=2, prior_preservation=True),
}


def _optional_bool(name: str) -> bool | None:
    """None when unset (the default applies), else the variable as env_bool reads it."""
    return env_bool(name, False) if os.environ.get(name, "").strip() else None


@dataclass(frozen=True)
class TrainerConfig:
    shared: SharedSettings
    # Names this process's heartbeat (lifecycle.heartbeat_of) and its lease holders; one per process on a machine.
    process_name: str
    consumer_group: str
    max_poll_interval_ms: int
    lease_s: float  # how long a job's lease lasts without renewal: a stalled or dead worker's job moves on after it
    # A job without progress (a step or a phase mark) for this long is stalled: its lease is given up and the
    # process exits, to be restarted; another worker resumes the job from its checkpoint.
    stall_s: float
    workers: int  # one job per worker; each worker owns one device (GPU)
    steps: int  # for the standard profile
    rank: int
    learning_rate: float
    batch_size: int  # for the standard profile
    resolution: int  # 0: the base model's native size
    seed: int
    device: str
    checkpoint_every: int  # steps between checkpoints in the blob store; 0: never
    probe_images: int  # rendered after training to score likeness; 0: skip the quality gate
    probe_steps: int
    bind_host: str  # where TrainerService and /metrics listen
    grpc_port: int  # TrainerService; 0: not served
    # Prior preservation: None (unset) lets the profile decide (on for high quality); True/False for every profile.
    prior_preservation: bool | None = None
    num_class_images: int = 50  # per (base model, subject class, resolution), shared by all orders
    prior_loss_weight: float = 1.0
    class_image_steps: int = 25  # denoising steps per class image (generated once)
    train_text_encoder: bool = False  # LoRA on the text encoder(s) too; its weights go in the same adapter file
    augment_variants: int = 2  # random zoomed crops per photo besides the photo itself (each also mirrored)
    threads: int = 0  # torch's intra-op threads on the worker's torch thread; 0: the CPU quota (trainer.threads)
    # torch.compile of the UNet, once per worker process: None (unset) compiles on a GPU only, where it pays.
    compile: bool | None = None

    def steps_and_batch(self, profile: common_pb2.TrainingProfile) -> tuple[int, int]:
        scale = self._profile(profile)
        return max(1, round(self.steps * scale.steps_factor)), self.batch_size * scale.batch_factor

    def uses_prior_preservation(self, profile: common_pb2.TrainingProfile) -> bool:
        if self.prior_preservation is not None:
            return self.prior_preservation
        return self._profile(profile).prior_preservation

    @staticmethod
    def _profile(profile: common_pb2.TrainingProfile) -> Profile:
        return PROFILES.get(profile, PROFILES[common_pb2.TRAINING_PROFILE_STANDARD])


def load() -> TrainerConfig:
    return TrainerConfig(
        shared=SharedSettings.from_env(),
        process_name=env_str("HEADSHOTS_TRAINER_NAME", "trainer"),
        consumer_group=env_str("HEADSHOTS_TRAINER_GROUP", "headshots-trainer"),
        max_poll_interval_ms=env_int("HEADSHOTS_TRAINER_MAX_POLL_INTERVAL_MS", 300_000),
        lease_s=env_float("HEADSHOTS_TRAINER_LEASE_S", 30.0),
        stall_s=env_float("HEADSHOTS_TRAIN_STALL_S", 120.0),
        workers=env_int("HEADSHOTS_TRAINER_WORKERS", 1),
        steps=env_int("HEADSHOTS_TRAIN_STEPS", 60),
        rank=env_int("HEADSHOTS_LORA_RANK", 8),
        learning_rate=env_float("HEADSHOTS_LEARNING_RATE", 1e-3),
        batch_size=env_int("HEADSHOTS_TRAIN_BATCH_SIZE", 1),
        resolution=env_int("HEADSHOTS_TRAIN_RESOLUTION", 0),
        seed=env_int("HEADSHOTS_TRAIN_SEED", 0),
        device=env_str("HEADSHOTS_DEVICE", "auto"),
        checkpoint_every=env_int("HEADSHOTS_TRAIN_CHECKPOINT_EVERY", 50),
        probe_images=env_int("HEADSHOTS_TRAIN_PROBE_IMAGES", 2),
        probe_steps=env_int("HEADSHOTS_TRAIN_PROBE_STEPS", 8),
        bind_host=env_str("HEADSHOTS_TRAINER_BIND_HOST", "127.0.0.1"),
        grpc_port=env_int("HEADSHOTS_TRAINER_GRPC_PORT", 50061),
        prior_preservation=_optional_bool("HEADSHOTS_TRAIN_PRIOR_PRESERVATION"),
        num_class_images=env_int("HEADSHOTS_TRAIN_NUM_CLASS_IMAGES", 50),
        prior_loss_weight=env_float("HEADSHOTS_TRAIN_PRIOR_LOSS_WEIGHT", 1.0),
        class_image_steps=env_int("HEADSHOTS_TRAIN_CLASS_IMAGE_STEPS", 25),
        train_text_encoder=env_bool("HEADSHOTS_TRAIN_TEXT_ENCODER", False),
        augment_variants=env_int("HEADSHOTS_TRAIN_AUGMENT_VARIANTS", 2),
        threads=env_int("HEADSHOTS_TRAIN_THREADS", 0),
        compile=_optional_bool("HEADSHOTS_TRAIN_COMPILE"),
    )
