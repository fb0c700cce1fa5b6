"""The service images: their sizes, a cold build and a warm rebuild after a code change (`make images`).

    python bench/images/bench_images.py --out FILE [--quick]

- images.<service>.size_mb: each image as `podman images` counts it (its layers, uncompressed);
- images.build_cold_s: the three images built with no layer of an earlier build (the base image kept:
  images.base_s is the debootstrap of a new one, measured only when none exists);
- images.build_warm_s: the three rebuilt after a change to libs/common's code, which every image holds:
  the dependency layers are reused, the code layers built again.

The builds read a copy of the build context (constraints.txt, libs/, services/ and .dockerignore) under
var/, so that the code change touches no file of the working tree. --quick measures the warm rebuild only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from headshots_tools import images, podman

REPO = Path(__file__).resolve().parents[2]
CONTEXT = REPO / "var" / "bench-images-context"


def copy_context() -> Path:
    shutil.rmtree(CONTEXT, ignore_errors=True)
    CONTEXT.mkdir(parents=True)
    for name in ("constraints.txt", ".dockerignore"):
        shutil.copy2(REPO / name, CONTEXT / name)
    skip = shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", "build", "node_modules")
    for folder in ("libs", "services"):
        shutil.copytree(REPO / folder, CONTEXT / folder, ignore=skip)
    return CONTEXT


def build_three(context: Path) -> float:
    started = time.monotonic()
    images.build_all(images.SERVICES, context=context)
    return round(time.monotonic() - started, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="the warm rebuild only")
    args = parser.parse_args()
    podman.ensure_installed()
    figures: dict = {}
    base_existed = podman.image_exists(images.base_image())
    started = time.monotonic()
    images.ensure_base()
    if not base_existed:
        figures["images.base_s"] = {
            "value": round(time.monotonic() - started, 1),
            "unit": "s",
            "note": "debootstrap of the Debian bookworm base with Python 3.11, imported as localhost/headshots-base",
        }
    context = copy_context()
    try:
        if not args.quick:
            for service in images.SERVICES:
                podman.podman("rmi", "--force", images.image_ref(service), check=False)
            images.remove_stale_layers(keep=set())  # every cached layer of an earlier build
            figures["images.build_cold_s"] = {
                "value": build_three(context),
                "unit": "s",
                "note": "gateway, trainer and renderer from no cached layer (base image kept); pip from PyPI and "
                "this machine's wheel folders (the CPU torch)",
            }
        else:
            build_three(context)
        changed = context / "libs" / "common" / "headshots_common" / "__init__.py"
        changed.write_text(changed.read_text() + f"\n# benchmark: a code change at {time.time()}\n")
        figures["images.build_warm_s"] = {
            "value": build_three(context),
            "unit": "s",
            "note": "the three rebuilt after a change to libs/common's code: dependency layers reused",
        }
        for service in images.SERVICES:
            figures[f"images.{service}.size_mb"] = {
                "value": podman.image_size_mb(images.image_ref(service)),
                "unit": "MB",
                "note": f"{images.image_ref(service)}, uncompressed layers (torch: the CPU build here)"
                if service != "gateway"
                else f"{images.image_ref(service)}, uncompressed layers, no torch",
            }
    finally:
        shutil.rmtree(context, ignore_errors=True)
        # Images built from the copy are the ones the working tree would give, but for the benchmark's comment:
        # `make images` afterwards rebuilds only the code layers.
    figures["_config"] = {"base": images.base_image(), "cpus": len(os.sched_getaffinity(0))}
    args.out.write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
