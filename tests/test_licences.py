"""docs/licences.md names every model file the project ships or loads, each under a licence that allows commercial
use; the model files are found from the code and the installed packages, not from a list kept beside this test."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import yaml

from headshots_common import faces
from headshots_common.settings import SharedSettings

REPO = Path(__file__).resolve().parents[1]
# Licences that allow commercial use (the OpenRAIL ones with use restrictions the terms of service pass on).
ALLOWED = {
    "CC0-1.0",
    "BSL-1.0",
    "MIT",
    "Apache-2.0",
    "BSD-3-Clause",
    "CreativeML-OpenRAIL-M",
    "CreativeML-OpenRAIL++-M",
}
# How model files are named in code: dlib's .dat, and the formats other face and vision stacks ship.
MODEL_FILE_NAME = re.compile(r"[\w.-]+\.(?:dat|onnx|tflite|caffemodel|mlmodel)\b")


def table() -> dict[str, str]:
    """model file -> licence, from docs/licences.md (a cell may name several files, each in backticks)."""
    rows = {}
    text = (REPO / "docs" / "licences.md").read_text()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([^`]+)`", cells[0]):
            rows[name] = cells[2]
    return rows


def loaded_by_the_code() -> set[str]:
    """The model files the services load: the face analyser's, those of the model packages the code imports, and
    the base model defaults (the shared settings' and every values file's of the chart)."""
    found = {path.name for path in faces.model_paths().values()}
    spec = importlib.util.find_spec("brisque.models")  # renderer.quality's BRISQUE(url=False) loads its defaults
    assert spec is not None and spec.submodule_search_locations
    brisque_models = Path(spec.submodule_search_locations[0])
    found |= {
        f"brisque/models/{path.name}"
        for path in brisque_models.iterdir()
        if path.is_file() and path.suffix not in {".py", ".pyc"}
    }
    found.add(Path(SharedSettings.from_env().base_model).name)  # the default: the caller clears the variable
    for values in sorted((REPO / "deploy" / "helm" / "headshots").glob("values*.yaml")):
        model = (yaml.safe_load(values.read_text()) or {}).get("config", {}).get("baseModel", {}).get("id")
        if model:
            found.add(model)
    return found


def named_in_the_code() -> set[str]:
    """Model file names written in the repository's code, Dockerfiles and chart."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    sources = [
        REPO / name
        for name in tracked
        if name.endswith((".py", ".yaml", ".yml", ".toml", ".cfg")) or Path(name).name in {"Dockerfile", "Makefile"}
    ]
    names = set()
    for path in sources:
        if path.is_file() and path.resolve() != Path(__file__).resolve():
            names |= set(MODEL_FILE_NAME.findall(path.read_text(errors="replace")))
    return names


def test_every_model_file_the_code_loads_is_listed_with_a_licence_for_commercial_use(monkeypatch):
    monkeypatch.delenv("HEADSHOTS_BASE_MODEL", raising=False)
    listed = table()
    loaded = loaded_by_the_code()
    assert {"shape_predictor_5_face_landmarks.dat", "brisque/models/svm.txt", "tiny-sd15"} <= loaded  # found at all
    assert sorted(loaded - listed.keys()) == [], "model files missing from docs/licences.md"
    assert {name: listed[name] for name in loaded if listed[name] not in ALLOWED} == {}


def test_every_model_file_named_in_the_code_is_listed_with_a_licence_for_commercial_use():
    listed = table()
    named = named_in_the_code()
    assert named, "no model file name found: the pattern no longer matches how the code names them"
    assert sorted(named - listed.keys()) == [], "model files named in the code but missing from docs/licences.md"
    assert {name: listed[name] for name in named if listed[name] not in ALLOWED} == {}


def test_images_keep_only_the_face_model_files_the_analyser_loads(tmp_path):
    """The face-recognition-models package holds more than the analyser loads (a 68-point model trained on data
    whose terms rule out commercial use among them): each image that installs it deletes the rest."""
    shipped = sorted(path.name for path in faces.model_paths()["landmarks"].parent.iterdir() if path.is_file())
    assert set(faces.MODEL_FILES.values()) < set(shipped)  # the package as installed here, before pruning
    for name in shipped:
        (tmp_path / name).write_bytes(b"")
    removed = faces.prune_unused_models(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(faces.MODEL_FILES.values())
    assert sorted(path.name for path in removed) == sorted(set(shipped) - set(faces.MODEL_FILES.values()))
    installing = [
        dockerfile
        for dockerfile in sorted((REPO / "services").glob("*/Dockerfile"))
        if "./libs/common" in dockerfile.read_text()
    ]
    assert len(installing) >= 3
    for dockerfile in installing:
        assert "python -m headshots_common.faces --prune-unused-models" in dockerfile.read_text(), dockerfile
