"""Coverage-guided fuzzing (atheris, libFuzzer) of the photo check every upload goes through.

The target is orders.photo_checks.check_photo, which the REST upload (`POST /v1/orders/{id}/photos`) and the
gRPC upload call with each file's bytes. Seeds are small valid JPEG, MPO, PNG, WebP, HEIC and GIF files (and
a few the gateway refuses: AVIF, TIFF, BMP), some with EXIF, plus real portraits cropped so the face checks
run too; libFuzzer mutates them, guided by the coverage of the Python code of Pillow's decoders, pillow-heif
and the checks. Each input must end in a CheckedPhoto or a Rejection with one of the documented reason
codes (the API answers those with 201 or 422): an exception, an input that takes longer than --timeout-s,
or memory that keeps growing is a finding.

    python bench/gateway/fuzz_images.py --out FILE [--quick] [--seconds N] [--artifacts DIR]

Findings are written to --artifacts (var/fuzz/images/ by default) as crash-*/timeout-* files: fix the
check, then add the input to services/gateway/tests/fuzz_regressions/, which the suite replays.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "services" / "gateway"))

# Every reason a photo can be refused for (README, "The API"); each is a 422 verdict on that photo.
REJECTION_CODES = frozenset(
    {
        "empty_file",
        "file_too_large",
        "not_an_image",
        "unsupported_format",
        "corrupt_image",
        "image_too_large",
        "image_too_small",
        "too_dark",
        "overexposed",
        "no_face",
        "multiple_faces",
        "face_too_small",
        "blurry",
        "eyes_covered",
        "near_duplicate",
        "different_person",
    }
)
DEFAULT_TARGET = "orders.photo_checks:check_photo"
# Inputs up to this size: large enough for the portrait seeds, small enough to mutate quickly.
MAX_LEN = 96 * 1024
# Samples of the worker's resident memory, one every this many inputs.
RSS_EVERY = 50


# --- seeds ------------------------------------------------------------------------------------------------


def _save(image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def write_seeds(directory: Path) -> int:
    """Small valid files of every format the gateway accepts or names in a refusal."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    directory.mkdir(parents=True, exist_ok=True)
    gradient = Image.linear_gradient("L").resize((48, 40)).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate, so exif_transpose runs
    exif[0x010F] = "HeadshotsCam"
    seeds: dict[str, bytes] = {
        "baseline.jpg": _save(gradient, "JPEG", quality=70),
        "progressive.jpg": _save(gradient, "JPEG", progressive=True),
        "gray.jpg": _save(gradient.convert("L"), "JPEG"),
        "cmyk.jpg": _save(gradient.convert("CMYK"), "JPEG"),
        "exif.jpg": _save(gradient, "JPEG", exif=exif),
        "rgb.png": _save(gradient, "PNG"),
        "rgba-interlaced.png": _save(gradient.convert("RGBA"), "PNG", interlace=1),
        "palette.png": _save(gradient.convert("P"), "PNG"),
        "gray16.png": _save(gradient.convert("I;16"), "PNG"),
        "exif.png": _save(gradient, "PNG", exif=exif),
        "lossy.webp": _save(gradient, "WEBP", quality=50),
        "lossless-exif.webp": _save(gradient, "WEBP", lossless=True, exif=exif),
        "animated.webp": _save(gradient, "WEBP", save_all=True, append_images=[gradient.rotate(90)]),
        "small.heic": _save(gradient, "HEIF", quality=30),
        "exif.heic": _save(gradient, "HEIF", quality=30, exif=exif),
        "two-frames.mpo": _save(gradient, "MPO", save_all=True, append_images=[gradient.rotate(180)]),
        "static.gif": _save(gradient, "GIF"),
        "animated.gif": _save(gradient, "GIF", save_all=True, append_images=[gradient.rotate(90)]),
        "tiny.avif": _save(gradient, "AVIF"),
        "tiny.tif": _save(gradient, "TIFF"),
        "tiny.bmp": _save(gradient, "BMP"),
        # Large enough to pass the size check: the brightness and face checks run on these.
        "plain-256.jpg": _save(Image.new("RGB", (256, 256), (128, 128, 128)), "JPEG"),
        "plain-256.png": _save(Image.new("L", (256, 300), 200), "PNG"),
    }
    # A real portrait cropped to its face: mutations of these reach detection, landmarks and embeddings.
    portrait = Image.open(REPO / "tests" / "fixtures" / "photos" / "obama.jpg").convert("RGB")
    face = portrait.crop((250, 150, 700, 600)).resize((300, 300))
    seeds["portrait.jpg"] = _save(face, "JPEG", quality=75)
    seeds["portrait.webp"] = _save(face, "WEBP", quality=60)
    seeds["portrait.heic"] = _save(face, "HEIF", quality=40)
    for name, data in seeds.items():
        assert len(data) <= MAX_LEN, (name, len(data))
        (directory / name).write_bytes(data)
    return len(seeds)


# --- the worker: atheris in this process ------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(target: str, stats_path: Path, libfuzzer_args: list[str]) -> None:
    import atheris
    import numpy  # noqa: F401 - loaded before instrumentation: its Python code is not what is fuzzed

    module_name, function_name = target.split(":")
    # Coverage of the decoders and the checks guides the mutations; the rest is not instrumented.
    with atheris.instrument_imports(include=["PIL", "pillow_heif", "orders", "headshots_common"]):
        import pillow_heif
        from PIL import Image

        Image.init()  # import every format plugin now, so that they are instrumented too
        pillow_heif.register_heif_opener()
        from gateway.config import CONFIG
        from orders.photo_checks import CheckedPhoto, Rejection

        check = getattr(importlib.import_module(module_name), function_name)

    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}
    executions = 0
    stats = stats_path.open("a")

    last_input = stats_path.with_suffix(".input")

    def one_input(data: bytes) -> None:
        nonlocal executions
        # Kept until the next input: the finding's input even if the process dies before libFuzzer saves it.
        last_input.write_bytes(data)
        started = time.perf_counter()
        result = check(data, max_bytes=CONFIG.max_photo_bytes, min_face_px=CONFIG.min_face_px)
        if isinstance(result, Rejection):
            if result.code not in REJECTION_CODES or not result.message:
                raise AssertionError(f"undocumented rejection {result!r}")
            verdict = result.code
        elif isinstance(result, CheckedPhoto):
            if not result.jpeg.startswith(b"\xff\xd8\xff"):
                raise AssertionError("an accepted photo is not stored as a JPEG")
            verdict = "accepted"
        else:
            raise AssertionError(f"neither a verdict nor a rejection: {result!r}")
        counts[verdict] = counts.get(verdict, 0) + 1
        seconds[verdict] = seconds.get(verdict, 0.0) + time.perf_counter() - started
        executions += 1
        if executions % RSS_EVERY == 0:
            sample = {"executions": executions, "rss_mb": round(_rss_mb(), 1), "verdicts": counts}
            sample["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
            stats.write(json.dumps(sample))
            stats.write("\n")
            stats.flush()

    # Load the face models before the clock of the first input starts.
    check(b"\xff\xd8\xff", max_bytes=CONFIG.max_photo_bytes, min_face_px=CONFIG.min_face_px)
    from headshots_common.faces import face_analyzer

    face_analyzer()
    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    atheris.Fuzz()


# --- the driver: runs workers, reads libFuzzer's report -----------------------------------------------------

_FINAL_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.M)
_PULSE = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", re.M)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def run_worker(
    corpus: Path, seeds: Path, artifacts: Path, seconds: int, timeout_s: int, stats: Path, target: str
) -> dict:
    args = [
        f"-max_total_time={seconds}",
        f"-timeout={timeout_s}",
        f"-max_len={MAX_LEN}",
        "-rss_limit_mb=3072",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
        "-reload=0",
    ]
    env = {
        **os.environ,
        # A fixed mmap threshold: large image buffers go back to the system when freed, so a growing
        # resident size means memory kept, not glibc holding freed heap.
        "MALLOC_MMAP_THRESHOLD_": str(256 * 1024),
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, __file__, "--worker", target, str(stats), *args, str(corpus), str(seeds)]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 300)
    elapsed = time.monotonic() - started
    log = proc.stdout + proc.stderr
    stats.with_suffix(".log").write_text(log)  # the worker's whole account, beside its samples
    final = {k: int(v) for k, v in _FINAL_STAT.findall(log)}
    pulses = _PULSE.findall(log)
    match = _ARTIFACT.search(log)
    crashed = match is not None or proc.returncode != 0
    artifact = match.group(1) if match else None
    if crashed and artifact is None and stats.with_suffix(".input").exists():
        data = stats.with_suffix(".input").read_bytes()
        artifact = str(artifacts / f"crash-{hashlib.sha1(data).hexdigest()}")
        Path(artifact).write_bytes(data)
    if crashed:
        shutil.copyfile(stats.with_suffix(".log"), f"{artifact or artifacts / 'worker'}.log")
    executions = final.get("number_of_executed_units", 0)
    per_s = final.get("average_exec_per_sec", 0)
    return {
        "elapsed_s": elapsed,
        # Time spent on inputs, without the worker's start (imports, instrumentation, face models).
        "fuzz_s": executions / per_s if per_s else elapsed,
        "executions": executions,
        "coverage": int(pulses[-1][1]) if pulses else 0,
        "features": int(pulses[-1][2]) if pulses else 0,
        "corpus": int(pulses[-1][3]) if pulses else 0,
        "crash": (
            {
                "artifact": artifact,
                "returncode": proc.returncode,
                "report": _crash_report(log),
            }
            if crashed
            else None
        ),
    }


def _crash_report(log: str) -> str:
    """libFuzzer's and Python's account of a finding: from the first traceback or alarm on."""
    for marker in ("=== Uncaught Python exception", "ALARM:", "==ERROR", "Traceback"):
        if marker in log:
            return log[log.index(marker) :][:6000]
    return log[-6000:]


def rss_growth_mb(stats: Path) -> tuple[float, float]:
    """(growth, last): the lowest resident size over the run's last fifth minus that over its first fifth.

    The lowest of each window, so one large image being decoded at a sample does not count as growth.
    """
    samples = [json.loads(line)["rss_mb"] for line in stats.read_text().splitlines() if line.strip()]
    if len(samples) < 5:
        return 0.0, samples[-1] if samples else 0.0
    fifth = max(1, len(samples) // 5)
    return round(min(samples[-fifth:]) - min(samples[1 : 1 + fifth]), 1), samples[-1]


def fuzz(seconds: int, artifacts: Path, timeout_s: int, target: str = DEFAULT_TARGET, max_restarts: int = 5) -> dict:
    """Fuzz for `seconds` in all; after a finding, go on from the corpus so far (a few times at most)."""
    artifacts.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fuzz-images-"))
    seeds, corpus = work / "seeds", work / "corpus"
    corpus.mkdir()
    seed_count = write_seeds(seeds)
    deadline = time.monotonic() + seconds
    runs, findings = [], []
    while len(runs) <= max_restarts and (left := int(deadline - time.monotonic())) > 5:
        stats = work / f"stats-{len(runs)}.jsonl"
        stats.touch()
        run = run_worker(corpus, seeds, artifacts, left, timeout_s, stats, target)
        run["rss_growth_mb"], run["rss_mb"] = rss_growth_mb(stats)
        last = json.loads(stats.read_text().splitlines()[-1]) if stats.stat().st_size else {}
        run["verdicts"], run["verdict_seconds"] = last.get("verdicts", {}), last.get("seconds", {})
        # libFuzzer's count, or the worker's own when it died before libFuzzer could report.
        run["executions"] = run["executions"] or last.get("executions", 0)
        runs.append(run)
        if not run["crash"]:
            break
        findings.append(run["crash"])
    shutil.rmtree(work, ignore_errors=True)  # findings and their logs are in `artifacts`
    executions = sum(r["executions"] for r in runs)
    elapsed, fuzz_s = sum(r["elapsed_s"] for r in runs), sum(r["fuzz_s"] for r in runs)
    return {
        "seconds": round(elapsed, 1),
        "executions": executions,
        "exec_per_s": round(executions / fuzz_s, 1) if fuzz_s else 0.0,
        "coverage": max((r["coverage"] for r in runs), default=0),
        "features": max((r["features"] for r in runs), default=0),
        "corpus": max((r["corpus"] for r in runs), default=0),
        "seeds": seed_count,
        "crashes": len(findings),
        "findings": findings,
        # The longest run's figure: a restart begins a new process.
        "rss_growth_mb": max(runs, key=lambda r: r["elapsed_s"])["rss_growth_mb"] if runs else 0.0,
        "rss_mb": max((r["rss_mb"] for r in runs), default=0.0),
        "verdicts": runs[-1]["verdicts"] if runs else {},
        "verdict_seconds": runs[-1]["verdict_seconds"] if runs else {},
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        target, stats, *libfuzzer_args = sys.argv[2:]
        worker(target, Path(stats), libfuzzer_args)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="a one-minute run")
    parser.add_argument("--seconds", type=int, help="how long to fuzz (default 600, 60 with --quick)")
    parser.add_argument("--timeout-s", type=int, default=10, help="the most one input may take")
    parser.add_argument("--artifacts", type=Path, default=REPO / "var" / "fuzz" / "images")
    parser.add_argument("--target", default=DEFAULT_TARGET, help="module:function checked (tests use their own)")
    parser.add_argument("--max-restarts", type=int, default=5, help="runs begun again after a finding")
    args = parser.parse_args()
    seconds = args.seconds or (60 if args.quick else 600)
    result = fuzz(seconds, args.artifacts, args.timeout_s, args.target, args.max_restarts)
    for finding in result["findings"]:
        print(f"FINDING {finding['artifact']} (exit {finding['returncode']}):\n{finding['report']}\n", file=sys.stderr)
    note = "check_photo, atheris/libFuzzer, one worker process"
    figures = {
        "fuzz.images.executions": {"value": result["executions"], "unit": "inputs", "note": note},
        "fuzz.images.exec_per_s": {"value": result["exec_per_s"], "unit": "inputs/s", "note": note},
        "fuzz.images.seconds": {"value": result["seconds"], "unit": "s", "note": "the run, worker start-up included"},
        "fuzz.images.crashes": {
            "value": result["crashes"],
            "unit": "findings",
            "note": "exceptions, undocumented verdicts or inputs over the time bound",
        },
        "fuzz.images.coverage_edges": {
            "value": result["coverage"],
            "unit": "edges",
            "note": "libFuzzer's cov: Python bytecode edges of Pillow, pillow-heif and the checks",
        },
        "fuzz.images.corpus": {"value": result["corpus"], "unit": "inputs", "note": "corpus grown from the seeds"},
        "fuzz.images.rss_growth_mb": {
            "value": result["rss_growth_mb"],
            "unit": "MB",
            "note": "lowest resident size over the last fifth of the run minus that over the first fifth",
        },
    }
    config = {
        "seeds": result["seeds"],
        "timeout_s": args.timeout_s,
        "max_len": MAX_LEN,
        "verdicts": result["verdicts"],
        "verdict_seconds": result["verdict_seconds"],
        "rss_mb": result["rss_mb"],
        "findings": [f["artifact"] for f in result["findings"]],
    }
    args.out.write_text(json.dumps({**figures, "_config": config}, indent=2) + "\n")
    print(json.dumps({k: v["value"] for k, v in figures.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
