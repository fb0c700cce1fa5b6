"""The trainer's configuration, read once from environment variables."""

from __future__ import annotations

from dataclasses import dataclass

from headshots_common.settings import SharedSettings, env_float, env_int, env_str

# The worker touches this file (under HEADSHOTS_VAR_DIR) while its loop runs; the liveness probe reads its age.
HEARTBEAT_FILE_NAME = "trainer.heartbeat"


@dataclass(frozen=True)
class TrainerConfig:
    shared: SharedSettings
    consumer_group: str
    max_poll_interval_ms: int
    steps: int
    rank: int
    learning_rate: float
    batch_size: int
    resolution: int  # 0: the base model's native size
    seed: int
    device: str


def load() -> TrainerConfig:
    return TrainerConfig(
        shared=SharedSettings.from_env(),
        consumer_group=env_str("HEADSHOTS_TRAINER_GROUP", "headshots-trainer"),
        max_poll_interval_ms=env_int("HEADSHOTS_TRAINER_MAX_POLL_INTERVAL_MS", 300_000),
        steps=env_int("HEADSHOTS_TRAIN_STEPS", 60),
        rank=env_int("HEADSHOTS_LORA_RANK", 8),
        learning_rate=env_float("HEADSHOTS_LEARNING_RATE", 1e-3),
        batch_size=env_int("HEADSHOTS_TRAIN_BATCH_SIZE", 1),
        resolution=env_int("HEADSHOTS_TRAIN_RESOLUTION", 0),
        seed=env_int("HEADSHOTS_TRAIN_SEED", 0),
        device=env_str("HEADSHOTS_DEVICE", "auto"),
    )
