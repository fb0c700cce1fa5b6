"""Environment-variable readers shared by each service's own configuration module.

The same code runs on a laptop and in the cluster; only these variables differ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class SharedSettings:
    """What every service must agree on."""

    var_dir: Path
    kafka_bootstrap: str
    blob_url: str
    base_model: str
    base_model_arch: str

    @classmethod
    def from_env(cls) -> SharedSettings:
        # Local state (SQLite database, blobs, tiny model, logs) lives under ./var by default.
        var_dir = Path(env_str("HEADSHOTS_VAR_DIR", "var")).resolve()
        return cls(
            var_dir=var_dir,
            kafka_bootstrap=env_str("HEADSHOTS_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            blob_url=env_str("HEADSHOTS_BLOB_URL", f"file://{var_dir / 'blobs'}"),
            base_model=env_str("HEADSHOTS_BASE_MODEL", str(var_dir / "models" / "tiny-sd15")),
            base_model_arch=env_str("HEADSHOTS_BASE_MODEL_ARCH", "sd15"),
        )
