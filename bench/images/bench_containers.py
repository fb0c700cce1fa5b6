"""One order through the containers stack (`make demo CONTAINERS=1`), timed.

    python bench/images/bench_containers.py --out FILE [--quick]

- containers.demo_order_s: from the demo's sign-up to the order's headshots on disk, every service a container
  of its image (the tiny model; HEADSHOTS_TRAIN_STEPS=30);
- containers.up_s: `up` until every service is ready;
- containers.stop_max_s: the longest `podman stop` of `down` (SIGTERM, 30 s before a SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from headshots_tools import images
from headshots_tools.demo import run_demo
from headshots_tools.localstack import Ports, Stack

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="(the same run: one order is the smallest)")
    args = parser.parse_args()
    images.build_all()
    with tempfile.TemporaryDirectory(dir=REPO / "var", prefix="bench-containers-") as var_dir:
        stack = Stack(
            var_dir=Path(var_dir),
            ports=Ports.free(),
            containers=True,
            extra_env={"HEADSHOTS_TRAIN_STEPS": "30"},
        )
        started = time.monotonic()
        stack.up()
        try:
            up_s = time.monotonic() - started
            started = time.monotonic()
            result = run_demo(
                stack, package="trial", styles=["corporate-navy", "executive-black"], out_dir=Path(var_dir) / "out"
            )
            order_s = time.monotonic() - started
        finally:
            stack.down()
        if result.state != "completed":
            print(f"the order ended {result.state}: {result.order}", file=sys.stderr)
            return 1
        stops = json.loads((stack.run_dir / "stop-seconds.json").read_text())
    figures = {
        "containers.demo_order_s": {
            "value": round(order_s, 1),
            "unit": "s",
            "note": f"one order (trial package, {len(result.files)} headshots) through the containers, tiny model",
        },
        "containers.up_s": {"value": round(up_s, 1), "unit": "s", "note": "every container started and ready"},
        "containers.stop_max_s": {
            "value": max(stop["seconds"] for stop in stops.values()),
            "unit": "s",
            "note": "the slowest `podman stop` of down (its timeout: 30 s, then SIGKILL); "
            + ", ".join(f"{name} {stop['seconds']}" for name, stop in sorted(stops.items())),
        },
        "_config": {"train_steps": 30, "package": "trial"},
    }
    args.out.write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
