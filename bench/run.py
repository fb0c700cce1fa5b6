"""`make bench`: run every benchmark, merge their figures into docs/benchmarks.json and docs/benchmarks.md.

Each benchmark is a script that takes `--out FILE` and writes
`{"figure.name": {"value": v, "unit": u, "note": "..."}, ..., "_config": {...}}`.
Ratios are measured within one run of one script, on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (name, script relative to the repository root, extra arguments)
BENCHMARKS: list[tuple[str, str, list[str]]] = []


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _register() -> None:
    BENCHMARKS.extend(
        [
            ("gateway", "bench/gateway/bench_gateway.py", []),
            ("webhooks", "bench/gateway/bench_webhooks.py", []),
            # A partner's test-key orders through the client package (REST and gRPC): placeholders in seconds.
            ("test_mode", "bench/gateway/bench_test_mode.py", []),
            # schemathesis against the running gateway on SQLite and PostgreSQL (where one answers).
            ("api_fuzz", "tools/headshots_tools/api_fuzz.py", []),
            # atheris over the photo check (malformed JPEG/PNG/WebP/HEIC/GIF); findings go to var/fuzz/images/.
            ("image_fuzz", "bench/gateway/fuzz_images.py", []),
            # CPU per photo check, 1 MP fixtures and a 12 MP phone photo; HEADSHOTS_BENCH_PHOTO_CHECKS_REFERENCE
            # names another checkout (a worktree of an earlier commit) to measure beside it.
            ("photo_checks", "bench/gateway/bench_photo_checks.py", []),
            ("renderer", "bench/renderer/bench_mixed_lora.py", []),
            ("trainer", "bench/trainer/bench_training.py", []),
            # Faults at random (tools/headshots_tools/chaos.py); HEADSHOTS_CHAOS_ORDERS sets its size.
            ("chaos", "tools/headshots_tools/chaos.py", []),
            # Locust against a local stack's gateway (bench/load); HEADSHOTS_LOAD_SECONDS sets the main run.
            ("load", "bench/load/run_load.py", []),
            # The service images with podman: sizes, a cold build and a warm rebuild after a code change.
            ("images", "bench/images/bench_images.py", []),
            # One order through the containers stack (`make demo CONTAINERS=1`).
            ("containers", "bench/images/bench_containers.py", []),
        ]
    )
    # Real SDXL-size figures need a GPU (and the model): measured only where one is present.
    if _cuda_available():
        BENCHMARKS.extend(
            [
                (
                    "renderer_gpu",
                    "bench/renderer/bench_renderer_gpu.py",
                    [
                        "--base-model",
                        os.environ.get("HEADSHOTS_BASE_MODEL", "stabilityai/stable-diffusion-xl-base-1.0"),
                    ],
                ),
                (
                    "trainer_gpu",
                    "bench/trainer/bench_training_gpu.py",
                    [
                        "--base-model",
                        os.environ.get("HEADSHOTS_BASE_MODEL", "stabilityai/stable-diffusion-xl-base-1.0"),
                    ],
                ),
            ]
        )
    else:
        print("no CUDA device: the GPU benchmarks (renderer_gpu, trainer_gpu) are not run", flush=True)


def main() -> int:
    _register()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="run only these benchmarks by name")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    args = parser.parse_args()
    json_path, md_path = REPO / "docs" / "benchmarks.json", REPO / "docs" / "benchmarks.md"
    figures = json.loads(json_path.read_text()) if json_path.exists() else {}
    configs = figures.pop("_configs", {})
    for name, script, extra in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        print(f"==> benchmark {name}: {script}", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            started = time.monotonic()
            cmd = [sys.executable, str(REPO / script), "--out", out.name, *extra, *(["--quick"] if args.quick else [])]
            subprocess.run(cmd, check=True, cwd=REPO)
            result = json.loads(Path(out.name).read_text())
        previous = set(configs.get(name, {}).get("figures", []))
        configs[name] = {
            **result.pop("_config", {}),
            "machine": _machine(),
            "seconds": round(time.monotonic() - started, 1),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "figures": sorted(result),
        }
        # This run's figures replace the ones the same benchmark wrote last time.
        figures = {k: v for k, v in figures.items() if k not in previous}
        figures.update(result)
    figures = dict(sorted(figures.items()))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({**figures, "_configs": configs}, indent=2) + "\n")
    md_path.write_text(_markdown(figures, configs))
    print(md_path.read_text())
    return 0


def _machine() -> str:
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        device = "no torch"
    cpu = subprocess.run(
        ["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True
    ).stdout.strip()
    return f"{cpu or platform.processor()} x{os.cpu_count()}, {device}, Python {platform.python_version()}"


def _markdown(figures: dict, configs: dict) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py); every ratio comes from one run of one "
        "benchmark on one machine. Machine-readable copy: `docs/benchmarks.json`.",
        "",
    ]
    for name, config in sorted(configs.items()):
        lines += [
            f"## {name}",
            "",
            f"Measured {config.get('measured_at', '?')} on {config.get('machine', '?')} "
            f"({config.get('seconds', '?')} s).",
            "",
            "| figure | value | unit | note |",
            "|---|---|---|---|",
        ]
        for key, fig in figures.items():
            if key in config.get("figures", []):
                value = fig["value"]
                shown = f"{value:.4g}" if isinstance(value, float) else str(value)
                lines.append(f"| `{key}` | {shown} | {fig.get('unit', '')} | {fig.get('note', '')} |")
        extra = {k: v for k, v in config.items() if k not in {"machine", "seconds", "measured_at", "figures"}}
        if extra:
            lines += ["", "Configuration: `" + json.dumps(extra, sort_keys=True) + "`"]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
