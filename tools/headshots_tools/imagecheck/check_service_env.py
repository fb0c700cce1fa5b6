#!/usr/bin/env python3
"""Build each service's image environment for real, without Docker, and check it.

For every service named on the command line this script:

1. copies the build context the Dockerfile's build stage COPYs (constraints.txt,
   libs/common/, services/<service>/, filtered by .dockerignore) into a scratch
   "container root" outside the repository;
2. creates a fresh virtualenv (`python -m venv`, no system site packages) where
   the Dockerfile creates /opt/venv;
3. runs the build stage's `RUN pip install -c constraints.txt ... && pip check
   && ...` steps, one `&&` step at a time, from the copied /src: non-editable
   installs of exactly what the image installs;
4. runs tools/headshots_tools/imagecheck/service_env_probe.py in that virtualenv, from the runtime stage's
   WORKDIR (with the runtime stage's COPYs, e.g. the gateway's source tree) and
   with the runtime stage's ENV: it imports what the Helm chart and the CMD run
   (see SERVICES below), every module of the service's packages, and every
   import made lazily inside functions of the loaded project modules.

Deliberate differences from `docker build`, none of which changes what gets
installed: pip's cache is used (the Dockerfiles set PIP_NO_CACHE_DIR=1 for
smaller layers), and `pip install` gets --no-compile (bytecode compilation of
torch, ray and transformers would double the install time; the probe compiles
what it imports in memory, as the runtime image would with PYTHONDONTWRITEBYTECODE).
The host's Python runs it (the Dockerfiles' python:3.11.7 base, checked by the
probe's `environment` line), and its pip configuration (indexes, find-links) applies.

Usage (from anywhere; the services build concurrently):

    python tools/headshots_tools/imagecheck/check_service_env.py [--workdir DIR] [--keep] [--report FILE] \
        [--background] gateway trainer renderer

tests/deploy/test_service_images.py runs it for the three services.

Exit status 0 when every service passed. Each service's full log is
DIR/<service>/check.log; failures are repeated at the end of the output.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
PROBE = Path(__file__).resolve().with_name("service_env_probe.py")

# Container paths that live under the scratch root (everything else, e.g. /usr/bin, is the host's).
CONTAINER_PREFIXES = ("/opt/venv", "/src", "/app", "/tmp")

# Distributions whose installed version must equal the constraints.txt pin (torch: ignoring the
# local label, +cpu here and the CUDA build in the image).
ML_PINNED = ("torch",)

# Third-party distributions that must not enter the gateway image (torch and everything the `ml`
# extra or the renderer brings).
GATEWAY_FORBIDDEN = ("torch", "diffusers", "transformers", "peft", "accelerate", "safetensors", "ray")

# What each image runs (Helm chart commands, probes, Ray Serve config, Dockerfile CMD). The probe
# also imports every module of the service's own packages and their lazy imports.
SERVICES: dict[str, dict[str, Any]] = {
    "gateway": {
        # The chart's DATABASE_URL is PostgreSQL and its cache Redis: the probe loads both client
        # libraries without connecting (port 9, discard, is never contacted).
        "env": {
            "DATABASE_URL": "postgres://headshots:unused@127.0.0.1:9/headshots",
            "HEADSHOTS_CACHE_URL": "redis://127.0.0.1:9/0",
        },
        "django": True,
        # gunicorn gateway.wsgi:application (gateway-web)
        "wsgi": ["gateway.wsgi:application"],
        # python manage.py <command> (gateway-grpc, gateway-worker and its probe, migrations Job,
        # retention CronJob); every other command of the project's apps is loaded too.
        "manage_commands": ["run_partner_grpc", "run_worker", "worker_healthcheck", "migrate", "purge_expired"],
        # gunicorn --config python:gateway.gunicorn_conf (gateway-web, Dockerfile CMD)
        "modules": ["partner_grpc.server", "workers.loops", "gateway.gunicorn_conf"],
        "scripts": ["gunicorn"],
        "forbidden": list(GATEWAY_FORBIDDEN),
        "pinned": [],
    },
    "trainer": {
        "env": {},
        "django": False,
        # python -m trainer (Deployment, Dockerfile CMD); python -m trainer.healthcheck (liveness)
        "modules": ["trainer.__main__", "trainer.healthcheck", "trainer.worker", "trainer.grpc_service"],
        "scripts": [],
        "forbidden": [],
        "pinned": list(ML_PINNED),
    },
    "renderer": {
        "env": {"RAY_USAGE_STATS_ENABLED": "0"},
        "django": False,
        # Ray Serve import path and gRPC servicer functions (renderer.serve values of the chart).
        "attrs": ["renderer.app:app", "headshots.v1.renderer_service_pb2_grpc.add_RendererServiceServicer_to_server"],
        # python -m renderer.dispatcher (Deployment, Dockerfile CMD), renderer.healthcheck (its
        # liveness), renderer.serve (local Serve runner), renderer.engine (loaded in each replica).
        "modules": ["renderer.dispatcher", "renderer.healthcheck", "renderer.serve", "renderer.engine", "renderer.app"],
        # KubeRay starts the head and workers with `ray start`.
        "scripts": ["ray"],
        "forbidden": [],
        "pinned": [*ML_PINNED, "ray"],
    },
}

# Project packages that are not the service's own (an image holds one service's code only, and never the
# developer tools).
ALL_SERVICE_DISTS = {f"headshots-{name}" for name in SERVICES} | {"headshots-tools"}


# --------------------------------------------------------------------------
# Dockerfile reading
# --------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            result.append((word.upper(), " ".join(rest.split())))
    return result


def stages(service: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of instructions starting with its FROM."""
    result: list[list[tuple[str, str]]] = []
    for word, args in instructions((REPO_ROOT / "services" / service / "Dockerfile").read_text()):
        if word == "FROM":
            result.append([])
        if result:
            result[-1].append((word, args))
    if len(result) < 2:
        raise SystemExit(f"services/{service}/Dockerfile: expected a build stage and a runtime stage")
    return result


def parse_env(args: str) -> dict[str, str]:
    """ENV KEY=value KEY2="value 2" ..."""
    env = {}
    for token in shlex.split(args):
        key, sep, value = token.partition("=")
        if not sep:
            raise SystemExit(f"unsupported ENV syntax: {args}")
        env[key] = value
    return env


def dockerignore() -> list[str]:
    path = REPO_ROOT / ".dockerignore"
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """.dockerignore matching, enough for this repository's patterns (no `!` exceptions)."""
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in relative.split("/")):
                return True
        elif fnmatch.fnmatchcase(relative, pattern) or relative.startswith(pattern.rstrip("/") + "/"):
            return True
    return False


def copy_from_context(source: str, destination: str, host) -> None:
    """COPY <source> <destination> from the build context (the repository root); `destination` is an
    absolute container path, `host` maps it to the scratch root."""
    patterns = dockerignore()
    src = REPO_ROOT / source.rstrip("/")
    into = destination.endswith("/") or destination.endswith("/.")
    target = Path(host(os.path.normpath(destination)))
    if src.is_file():
        target = target / src.name if into else target
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        return

    def ignore(directory: str, names: list[str]) -> set[str]:
        base = Path(directory).relative_to(REPO_ROOT).as_posix()
        return {name for name in names if ignored(f"{base}/{name}", patterns)}

    shutil.copytree(src, target, ignore=ignore, dirs_exist_ok=True)


# --------------------------------------------------------------------------
# Building and probing one service
# --------------------------------------------------------------------------


class Log:
    def __init__(self, path: Path):
        self.path = path
        self.file = path.open("w")
        self.failures: list[str] = []

    def write(self, text: str) -> None:
        self.file.write(text if text.endswith("\n") else text + "\n")
        self.file.flush()

    def fail(self, text: str) -> None:
        self.failures.append(text)
        self.write(f"FAILED: {text}")


def constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name.strip()).lower()] = version.strip()
    return pins


def run_step(label: str, command: list[str] | str, log: Log, steps: list[dict], **kwargs) -> bool:
    log.write(f"\n==> {label}\n$ {command if isinstance(command, str) else shlex.join(command)}")
    started = time.monotonic()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    seconds = time.monotonic() - started
    log.write(result.stdout)
    log.write(f"<== {label}: exit {result.returncode} in {seconds:.1f}s")
    steps.append({"step": label, "seconds": round(seconds, 1), "ok": result.returncode == 0})
    if result.returncode != 0:
        # The last lines name the failing requirement or import.
        tail = "\n".join(result.stdout.strip().splitlines()[-25:])
        log.fail(f"{label} (exit {result.returncode}):\n{tail}")
    return result.returncode == 0


def check_service(service: str, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    spec = SERVICES[service]
    root = workdir / service / "root"  # the container's filesystem root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    log = Log(workdir / service / "check.log")
    steps: list[dict] = []
    venv = root / "opt" / "venv"
    report: dict[str, Any] = {
        "service": service,
        "root": str(root),
        "venv": str(venv),
        "log": str(log.path),
        "steps": steps,
    }

    def host(path: str) -> str:
        """A container path (/opt/venv/bin, /app/...) as the host path under the scratch root."""
        for prefix in CONTAINER_PREFIXES:
            if path == prefix or path.startswith(prefix + "/"):
                return str(root) + path
        return path

    def host_paths(value: str) -> str:
        return ":".join(host(part) for part in value.split(":"))

    build, runtime = stages(service)[0], stages(service)[-1]

    # ---- build stage: fresh venv, COPY the context, RUN pip install ... && pip check ...
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "PYTHONPATH",
            "PYTHONHOME",
            "PYTHONSTARTUP",
            "VIRTUAL_ENV",
            "PYTHONUSERBASE",
            "DJANGO_SETTINGS_MODULE",
            "PIP_USER",
            "PIP_TARGET",
            "PIP_PREFIX",
        }
        and not k.startswith("HEADSHOTS_")
    }
    build_env = dict(clean)
    workdir_in_container = "/"
    for word, args in build[1:]:
        if word == "ENV":
            for key, value in parse_env(args).items():
                if key == "PIP_NO_CACHE_DIR":
                    continue  # reuse pip's cache (see the module's docstring)
                build_env[key] = host_paths(value.replace("$PATH", clean.get("PATH", os.defpath)))
        elif word == "WORKDIR":
            workdir_in_container = args
            Path(host(args)).mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            *sources, destination = shlex.split(args)
            target = destination if destination.startswith("/") else f"{workdir_in_container}/{destination}"
            for source in sources:
                copy_from_context(source, target, host)
        elif word == "RUN":
            if re.fullmatch(r"python3? -m venv /opt/venv", args):
                # The base interpreter (not this script's virtualenv), like python:3.11-slim's python.
                if not run_step(
                    "python -m venv /opt/venv", [sys.executable, "-m", "venv", str(venv)], log, steps, env=clean
                ):
                    break
                cfg = (venv / "pyvenv.cfg").read_text()
                if "include-system-site-packages = false" not in cfg:
                    log.fail(f"the venv sees the system site packages:\n{cfg}")
                continue
            parts = args.split(" && ")
            if not all(part.startswith(("pip ", "python ")) for part in parts):
                log.fail(f"cannot mirror this build-stage RUN on the host (only pip and python commands): {args}")
                break
            ok = True
            for part in parts:
                if part.startswith("pip install "):
                    # Bytecode compilation only fills __pycache__ (the slowest part of installing torch,
                    # ray and transformers); what gets installed is the same.
                    part = "pip install --no-compile " + part[len("pip install ") :]
                label = part if len(part) < 90 else part[:87] + "..."
                if not run_step(
                    label, ["/bin/sh", "-c", part], log, steps, cwd=host(workdir_in_container), env=build_env
                ):
                    ok = False
                    break
            if not ok:
                break

    python = venv / "bin" / "python"
    if not log.failures and not any(step["step"].startswith("pip install") for step in steps):
        log.fail(f"services/{service}/Dockerfile: no `RUN pip install` in the build stage")
    if not log.failures:
        freeze = subprocess.run(
            [str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, env=build_env
        )
        report["distributions"] = {
            d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(freeze.stdout or "[]")
        }
        log.write(f"\n{len(report['distributions'])} distributions installed")

    # ---- runtime stage: WORKDIR, its COPYs, its ENV; then the probe
    if not log.failures:
        run_env = {"PATH": os.defpath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        runtime_dir = "/"
        for word, args in runtime[1:]:
            if word == "ENV":
                for key, value in parse_env(args).items():
                    run_env[key] = host_paths(value.replace("$PATH", os.defpath))
            elif word == "WORKDIR":
                runtime_dir = args
                Path(host(args)).mkdir(parents=True, exist_ok=True)
            elif word == "COPY" and "--from" not in args:
                *sources, destination = shlex.split(args)
                target = destination if destination.startswith("/") else f"{runtime_dir}/{destination}"
                for source in sources:
                    copy_from_context(source, target, host)
        # What the chart sets: scratch state under /tmp (an emptyDir), and each service's settings.
        Path(host("/tmp/var")).mkdir(parents=True, exist_ok=True)
        run_env.setdefault("HOME", host("/tmp"))
        run_env["HEADSHOTS_VAR_DIR"] = host("/tmp/var")
        run_env.update(spec["env"])
        pins = constraint_pins()
        base_image = build[0][1].split()[0]  # python:3.11.7-slim-bookworm
        python_version = re.match(r"python:(\d+\.\d+)", base_image)
        probe_spec = {
            "service": service,
            "python": python_version.group(1) if python_version else None,
            "repo_root": str(REPO_ROOT),
            "venv": str(venv),
            "packages": packages(service),
            "modules": spec["modules"],
            "attrs": spec.get("attrs", []),
            "django": spec["django"],
            "wsgi": spec.get("wsgi", []),
            "manage_commands": spec.get("manage_commands", []),
            "scripts": spec["scripts"],
            "forbidden": spec["forbidden"],
            "foreign": sorted(ALL_SERVICE_DISTS - {f"headshots-{service}"}),
            "pinned": {name: pins[name] for name in spec["pinned"]},
        }
        report["workdir"] = host(runtime_dir)
        log.write(f"\n(runtime) WORKDIR {runtime_dir} -> {host(runtime_dir)}")
        log.write("(runtime) env: " + " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(run_env.items())))
        code = (
            f"import runpy, sys; sys.argv = ['probe', {json.dumps(probe_spec)!r}]; "
            f"runpy.run_path({str(PROBE)!r}, run_name='__main__')"
        )
        run_step(
            "import check (tools/headshots_tools/imagecheck/service_env_probe.py)",
            [str(python), "-c", code],
            log,
            steps,
            cwd=host(runtime_dir),
            env=run_env,
        )

    report["ok"] = not log.failures
    report["failures"] = log.failures
    report["seconds"] = round(time.monotonic() - started, 1)
    log.write(f"\n{service}: {'ok' if report['ok'] else 'FAILED'} in {report['seconds']}s")
    log.file.close()
    return report


def packages(service: str) -> list[str]:
    """Top-level packages of the service's distribution (its pyproject's packages.find include)."""
    pyproject = tomllib.loads((REPO_ROOT / "services" / service / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({name.split(".")[0] for name in include})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("services", nargs="+", choices=sorted(SERVICES))
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the virtualenvs (removed after a pass otherwise)")
    parser.add_argument("--report", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--jobs", type=int, default=3, help="services built concurrently")
    parser.add_argument(
        "--background",
        action="store_true",
        help="lowest CPU and I/O priority (nice 19, idle I/O class), for building while tests run",
    )
    args = parser.parse_args(argv)
    if args.background:
        os.nice(19)  # inherited by pip and the probes
        ionice = shutil.which("ionice")
        if ionice:
            subprocess.run([ionice, "-c", "3", "-p", str(os.getpid())], check=False)

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="headshots-service-envs-"))).resolve()
    if workdir == REPO_ROOT or REPO_ROOT in workdir.parents:
        parser.error("--workdir must be outside the repository (its source tree would shadow the installed packages)")
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"building {', '.join(args.services)} under {workdir}", flush=True)

    lock = threading.Lock()

    def one(service: str) -> dict[str, Any]:
        report = check_service(service, workdir)
        with lock:
            steps = ", ".join(f"{s['step'].split()[0]} {s['seconds']}s" for s in report["steps"])
            print(f"{service}: {'ok' if report['ok'] else 'FAILED'} in {report['seconds']}s ({steps})", flush=True)
        if report["ok"] and not args.keep:
            shutil.rmtree(Path(report["venv"]), ignore_errors=True)
        return report

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        reports = list(pool.map(one, args.services))
    wall = round(time.monotonic() - started, 1)
    print(f"wall time {wall}s")
    for report in reports:
        for failure in report["failures"]:
            print(f"\n---- {report['service']} FAILED: {failure}\n(full log: {report['log']})")
    if args.report:
        args.report.write_text(json.dumps({"wall_seconds": wall, "services": reports}, indent=2))
    return 0 if all(report["ok"] for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
