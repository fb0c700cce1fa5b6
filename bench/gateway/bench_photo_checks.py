"""CPU per photo of the photo checks (`orders.photo_checks.check_photo`), single-threaded.

    python bench/gateway/bench_photo_checks.py --out FILE [--quick] [--reference DIR]

- photos.check_cpu_ms_1mp: the median over tests/fixtures/photos (0.5-3.3 MP portraits) of each photo's median
  process CPU time for one check;
- photos.check_cpu_ms_12mp: the same for a 12 MP phone-sized photo (3000x4000 JPEG at quality 92 with a sensor's
  grain, made from a fixture portrait).

Process CPU time (`time.process_time`), with every library held to one thread, so that other work on the machine
moves it little. `--reference DIR` (or HEADSHOTS_BENCH_PHOTO_CHECKS_REFERENCE) also measures another checkout of
the repository, e.g. a `git worktree` of the commit before a change, in the same run, and says so in the notes.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BAR_MS = {"photos.check_cpu_ms_1mp": 150, "photos.check_cpu_ms_12mp": 350}


def phone_photo(portrait: Path) -> bytes:
    import numpy as np
    from PIL import Image, ImageOps

    upright = ImageOps.fit(Image.open(portrait).convert("RGB"), (750, 1000)).resize(
        (3000, 4000), Image.Resampling.BICUBIC
    )
    grain = np.random.default_rng(0).normal(0, 3, (4000, 3000, 3)).astype(np.float32)
    pixels = np.clip(np.asarray(upright, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=92)
    return out.getvalue()


def measure(code: Path, repeats: int) -> dict[str, float]:
    """Median CPU ms per photo with the checks of the checkout at `code` (imported from its source tree)."""
    sys.path[:0] = [str(code / "libs" / "common"), str(code / "services" / "gateway")]
    from headshots_common.faces import face_analyzer
    from orders.photo_checks import check_photo

    face_analyzer()  # the models load once per process, not per photo

    def cpu_ms(data: bytes) -> float:
        times = []
        for _ in range(repeats):
            started = time.process_time()
            check_photo(data, max_bytes=64 * 1024 * 1024, min_face_px=96)
            times.append((time.process_time() - started) * 1000)
        return statistics.median(times)

    fixtures = sorted((REPO / "tests" / "fixtures" / "photos").glob("*.jpg"))
    big = phone_photo(REPO / "tests" / "fixtures" / "photos" / "obama.jpg")
    for path in fixtures[:1]:
        check_photo(path.read_bytes(), max_bytes=64 * 1024 * 1024, min_face_px=96)  # warm caches
    return {
        "photos.check_cpu_ms_1mp": round(statistics.median(cpu_ms(p.read_bytes()) for p in fixtures), 1),
        "photos.check_cpu_ms_12mp": round(cpu_ms(big), 1),
        "photos": len(fixtures),
        "bytes_12mp": len(big),
    }


def measure_elsewhere(code: Path, repeats: int) -> dict[str, float]:
    """`measure` in a fresh process, so that the other checkout's modules are the ones imported."""
    result = subprocess.run(
        [sys.executable, __file__, "--measure", str(code), "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": f"{code / 'libs' / 'common'}:{code / 'services' / 'gateway'}"},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def commit_of(code: Path) -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=code, capture_output=True, text=True)
    return found.stdout.strip() or str(code)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--reference", default=os.environ.get("HEADSHOTS_BENCH_PHOTO_CHECKS_REFERENCE"))
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: print one checkout's figures
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    if args.measure:
        print(json.dumps(measure(Path(args.measure), repeats)))
        return 0
    now = measure_elsewhere(REPO, repeats)
    before = measure_elsewhere(Path(args.reference), repeats) if args.reference else None
    figures: dict = {}
    for name, what in (
        ("photos.check_cpu_ms_1mp", f"median over the {now['photos']} fixture portraits (tests/fixtures/photos)"),
        ("photos.check_cpu_ms_12mp", f"a 3000x4000 phone-like JPEG ({now['bytes_12mp'] / 1e6:.1f} MB)"),
    ):
        note = (
            f"process CPU ms per photo check, single-threaded, {what}; median of {repeats} checks per photo; "
            f"bar <= {BAR_MS[name]}"
        )
        if before:
            note += f"; before this change ({commit_of(Path(args.reference))}), same run: {before[name]} ms"
        figures[name] = {"value": now[name], "unit": "ms", "note": note}
    figures["_config"] = {"repeats": repeats, "reference": commit_of(Path(args.reference)) if before else None}
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
