"""The trainer's configuration, read once from environment variables."""

from __future__ import annotations

from dataclasses import dataclass

from headshots.v1 import common_pb2
from headshots_common.settings import SharedSettings, env_float, env_int, env_str

# The worker touches this file (under HEADSHOTS_VAR_DIR) while its loop runs; the liveness probe reads its age.
HEARTBEAT_FILE_NAME = "trainer.heartbeat"


@dataclass(frozen=True)
class Profile:
    """How a training profile scales the configured (standard) steps and batch size."""

    steps_factor: float
    batch_factor: int


PROFILES = {
    common_pb2.TRAINING_PROFILE_FAST: Profile(steps_factor=0.5, batch_factor=1),
    common_pb2.TRAINING_PROFILE_STANDARD: Profile(steps_factor=1.0, batch_factor=1),
    common_pb2.TRAINING_PROFILE_HIGH_QUALITY: Profile(steps_factor=2.0, batch_factor=2),
}


@dataclass(frozen=True)
class TrainerConfig:
    shared: SharedSettings
    consumer_group: str
    max_poll_interval_ms: int
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
    metrics_port: int  # Prometheus /metrics; 0: not served

    def steps_and_batch(self, profile: int) -> tuple[int, int]:
        scale = PROFILES.get(profile, PROFILES[common_pb2.TRAINING_PROFILE_STANDARD])
        return max(1, round(self.steps * scale.steps_factor)), self.batch_size * scale.batch_factor


def load() -> TrainerConfig:
    return TrainerConfig(
        shared=SharedSettings.from_env(),
        consumer_group=env_str("HEADSHOTS_TRAINER_GROUP", "headshots-trainer"),
        max_poll_interval_ms=env_int("HEADSHOTS_TRAINER_MAX_POLL_INTERVAL_MS", 300_000),
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
        metrics_port=env_int("HEADSHOTS_TRAINER_METRICS_PORT", 0),
    )
