"""The configured base model: a missing local model stops every service at start-up; nothing is generated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from headshots_common.basemodel import BaseModelMissing, native_resolution, resolve_base_model

REPO = Path(__file__).resolve().parents[1]


def test_a_model_folder_or_a_hub_id_is_used_as_configured(tiny_model):
    assert resolve_base_model(tiny_model) == tiny_model
    assert resolve_base_model("stabilityai/stable-diffusion-xl-base-1.0") == "stabilityai/stable-diffusion-xl-base-1.0"
    assert native_resolution(tiny_model) == 128


@pytest.mark.parametrize(
    "make",
    [lambda p: None, lambda p: p.mkdir(), lambda p: (p.mkdir(), (p / "x.txt").write_text("x"))],
    ids=["missing", "empty folder", "not a model"],
)
def test_a_local_path_without_a_model_is_refused_with_what_to_do(tmp_path, make):
    path = tmp_path / "models" / "tiny"
    path.parent.mkdir()
    make(path)
    with pytest.raises(BaseModelMissing, match="make model"):
        resolve_base_model(str(path))
    assert not (path / "model_index.json").exists(), "nothing was generated"


@pytest.mark.parametrize("command", [["-m", "trainer"], ["-m", "renderer.serve"]], ids=["trainer", "renderer"])
def test_services_refuse_to_start_without_their_base_model(tmp_path, command):
    missing = tmp_path / "models" / "nowhere"
    env = dict(
        os.environ,
        HEADSHOTS_VAR_DIR=str(tmp_path),
        HEADSHOTS_BASE_MODEL=str(missing),
        HEADSHOTS_KAFKA_BOOTSTRAP="127.0.0.1:9",
    )  # never reached: the model check comes first
    result = subprocess.run([sys.executable, *command], env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode != 0
    assert str(missing) in result.stderr and "make model" in result.stderr
    assert not missing.exists(), "no stand-in model was generated"
