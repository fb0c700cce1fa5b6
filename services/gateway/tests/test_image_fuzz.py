"""Hostile photos: a bounded coverage-guided fuzz run of the photo check, and every past finding replayed.

bench/gateway/fuzz_images.py fuzzes orders.photo_checks.check_photo (what each uploaded file goes through)
with atheris from small valid JPEG/MPO/PNG/WebP/HEIC/GIF seeds; `make bench` runs it for longer. Each
input must get an acceptance or a documented rejection, within the time bound, with flat memory.
"""

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

from gateway.config import CONFIG

# Nothing here needs Django's app registry at import: the fuzz worker imports planted_bug from this module.
from orders.photo_checks import CheckedPhoto, check_photo

REPO = Path(__file__).resolve().parents[3]
FUZZ = REPO / "bench" / "gateway" / "fuzz_images.py"
REGRESSIONS = Path(__file__).with_name("fuzz_regressions")
FINDINGS = json.loads((REGRESSIONS / "findings.json").read_text())
FUZZ_SECONDS = 20


def _fuzz(tmp_path: Path, seconds: int, *extra: str) -> tuple[dict, str]:
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(FUZZ), "--out", str(out), "--seconds", str(seconds)]
        + ["--artifacts", str(tmp_path / "artifacts"), *extra],
        capture_output=True,
        text=True,
        timeout=seconds + 240,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(out.read_text()), result.stderr


def planted_bug(data: bytes, **limits):
    """The photo check with a bug planted: every PNG raises (test_the_fuzzer_reports_a_finding)."""
    if data.startswith(b"\x89PNG"):
        raise RuntimeError("planted bug")
    return check_photo(data, **limits)


def planted_hang(data: bytes, **limits):
    """The photo check with a hang planted: every GIF takes a minute (test_the_fuzzer_reports_a_finding)."""
    if data.startswith(b"GIF8"):
        time.sleep(60)
    return check_photo(data, **limits)


def test_a_bounded_fuzz_run_finds_no_crash_hang_or_leak(tmp_path):
    figures, stderr = _fuzz(tmp_path, FUZZ_SECONDS)
    value = {k: v["value"] for k, v in figures.items() if not k.startswith("_")}
    # Each finding's input is in tmp_path/artifacts and its traceback in stderr: fix the check, then add the
    # input to fuzz_regressions/ with its verdict in findings.json.
    assert value["fuzz.images.crashes"] == 0, stderr[-8000:]
    # It really fuzzed: many inputs, through the decoders and on into the face checks.
    assert value["fuzz.images.executions"] >= 150, value
    assert value["fuzz.images.coverage_edges"] >= 1000, value
    verdicts = figures["_config"]["verdicts"]
    reached = {"corrupt_image", "not_an_image", "unsupported_format", "image_too_small", "accepted"}
    assert reached <= set(verdicts), verdicts
    assert value["fuzz.images.rss_growth_mb"] < 64, value


@pytest.mark.parametrize(
    ("target", "prefix", "magic", "report"),
    [
        ("planted_bug", "crash-", b"\x89PNG", "RuntimeError: planted bug"),
        ("planted_hang", "timeout-", b"GIF8", "ALARM: working on the last Unit"),
    ],
    ids=["exception", "hang"],
)
def test_the_fuzzer_reports_a_finding(tmp_path, target, prefix, magic, report):
    """The harness can fail: an exception, or an input over the time bound, is a finding with its input."""
    args = ["--target", f"tests.test_image_fuzz:{target}", "--timeout-s", "2", "--max-restarts", "0"]
    figures, stderr = _fuzz(tmp_path, 15, *args)
    assert figures["fuzz.images.crashes"]["value"] == 1, stderr[-4000:]
    [artifact] = figures["_config"]["findings"]
    assert Path(artifact).name.startswith(prefix), artifact
    assert Path(artifact).read_bytes().startswith(magic)
    assert report in stderr


def test_every_regression_input_is_listed():
    assert sorted(p.name for p in REGRESSIONS.iterdir() if p.name != "findings.json") == sorted(FINDINGS)


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_a_past_finding_gets_its_verdict_over_rest(api, order, name):
    """Each input the fuzzer once crashed the check with now gets a verdict: 422 with its reason, or 201."""
    from orders.models import Photo

    data = (REGRESSIONS / name).read_bytes()
    response = api.post(
        f"/v1/orders/{order['id']}/photos", {"files": [SimpleUploadedFile(name, data)]}, format="multipart"
    )
    verdict = FINDINGS[name]["verdict"]
    [result] = response.json()["results"]
    if verdict == "accepted":
        assert (response.status_code, result["accepted"]) == (201, True), response.content[:300]
    else:
        assert (response.status_code, result["reason_code"]) == (422, verdict), response.content[:300]
        [photo] = Photo.objects.filter(order_id=order["id"])  # the verdict alone is kept
        assert (photo.state, photo.blob_key, photo.embedding) == ("rejected", "", [])


@pytest.mark.parametrize(("orientation", "turn"), [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)])
def test_a_sideways_photo_with_its_exif_orientation_is_checked_upright(person_photos, orientation, turn):
    """The camera's orientation is still honoured now that a damaged EXIF block no longer fails the check."""
    upright = Image.open(person_photos[0]).convert("RGB")
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    out = io.BytesIO()
    upright.transpose(turn).save(out, format="JPEG", exif=exif)
    result = check_photo(out.getvalue(), max_bytes=CONFIG.max_photo_bytes, min_face_px=CONFIG.min_face_px)
    assert isinstance(result, CheckedPhoto), result
    assert (result.width, result.height) == upright.size
