"""The service images, built from their Dockerfiles (`make images`) and run as containers with podman.

The `built_images` fixture (conftest.py) builds the three images with tools/headshots_tools/images.py, as
`make images` does; with the layers of an earlier `make images` that takes seconds. Each test then runs the
image as the chart runs it: as the user of its securityContext (10001), on a read-only root filesystem with
the chart's mounts as tmpfs. tests/deploy/image_probe.py, mounted read-only, imports inside the image what
the chart and the image's CMD run, every module of the service and every import written inside its
functions; other tests look for test and developer files, for places the user can write, and for packages
that constraints.txt (and so the dependency audit of tests/test_dependency_audit.py) does not pin.

Marked `images` (minutes on a cold machine): the default pytest run leaves them out, `.ci/run` runs them in
a stage of its own (`pytest -m images`). The checks that need no image (the table below against the chart,
the probe's own failure report) run in the default run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml
from deploy_support import PROBE_SCRIPT, REPO_ROOT, SERVICES, pod_templates, render
from packaging.utils import canonicalize_name

from headshots_tools import podman
from headshots_tools.images import image_ref

# What must never reach the gateway image: torch and everything the `ml` extra or Ray brings.
GATEWAY_FORBIDDEN = ["torch", "ray", "diffusers", "transformers", "peft", "accelerate", "safetensors"]
# Distributions of the developer environment that no image may hold.
DEV_ONLY = {"pytest", "ruff", "mypy", "hypothesis", "pre-commit", "headshots-tools", "pip-audit", "locust"}
PYTHON = "3.11"  # the Dockerfiles' base: python:3.11.7-slim-bookworm, or the local base's Debian 3.11
VENV = "/opt/venv"
CHART_VAR_DIR = "/tmp/headshots"  # the chart's HEADSHOTS_VAR_DIR: scratch state on its /tmp emptyDir

# What each image runs (the chart's commands and probes, the Ray Serve config, the Dockerfile's CMD); the
# probe also imports every module of the service's own packages and their lazy imports.
IMAGES: dict[str, dict[str, Any]] = {
    "gateway": {
        # The chart's DATABASE_URL is PostgreSQL and its cache Redis: the probe loads both client
        # libraries without connecting (port 9, discard, is never contacted).
        "env": {
            "DATABASE_URL": "postgres://headshots:unused@127.0.0.1:9/headshots",
            "HEADSHOTS_CACHE_URL": "redis://127.0.0.1:9/0",
        },
        "django": True,
        "wsgi": ["gateway.wsgi:application"],
        "manage_commands": [
            "run_partner_grpc",
            "run_worker",
            "worker_healthcheck",
            "run_photo_checker",
            "photo_checker_healthcheck",
            "migrate",
            "purge_expired",
        ],
        "modules": ["partner_grpc.server", "workers.loops", "gateway.gunicorn_conf"],
        "scripts": ["gunicorn"],
        "forbidden": GATEWAY_FORBIDDEN,
        "pinned": [],
    },
    "trainer": {
        "env": {},
        "django": False,
        # python -m trainer (Deployment, Dockerfile CMD); python -m trainer.healthcheck (liveness)
        "modules": ["trainer.__main__", "trainer.healthcheck", "trainer.worker", "trainer.grpc_service"],
        "scripts": [],
        "forbidden": [],
        "pinned": ["torch"],
    },
    "renderer": {
        "env": {"RAY_USAGE_STATS_ENABLED": "0"},
        "django": False,
        # Ray Serve import path and gRPC servicer functions (renderer.serve values of the chart).
        "attrs": ["renderer.app:app", "headshots.v1.renderer_service_pb2_grpc.add_RendererServiceServicer_to_server"],
        # python -m renderer.dispatcher (Deployment, Dockerfile CMD), renderer.healthcheck (its liveness),
        # renderer.serve (the local Serve runner), renderer.engine (loaded in each replica).
        "modules": ["renderer.dispatcher", "renderer.healthcheck", "renderer.serve", "renderer.engine", "renderer.app"],
        # KubeRay starts the head and workers with `ray start`.
        "scripts": ["ray"],
        "forbidden": [],
        "pinned": ["torch", "ray"],
    },
}


def constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        requirement, _, version = line.split("#")[0].partition("==")
        if version:
            pins[canonicalize_name(requirement.strip())] = version.strip()
    return pins


def packages(service: str) -> list[str]:
    """Top-level packages of the service's distribution (its pyproject's packages.find include)."""
    import tomllib

    pyproject = tomllib.loads((REPO_ROOT / "services" / service / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({name.split(".")[0] for name in include})


def chart_mounts(service: str) -> set[str]:
    """Every mountPath the chart gives a container of this image (the chart's writable places)."""
    mounts = set()
    for _, template in pod_templates(render()):
        for container in template["spec"].get("initContainers", []) + template["spec"]["containers"]:
            if image_service(container["image"]) == service:
                mounts |= {mount["mountPath"] for mount in container.get("volumeMounts", [])}
    return mounts


def probe_command(probe: str, spec: dict[str, Any]) -> list[str]:
    """`python -c` running the probe, so that sys.path[0] is the working directory, as for the chart's commands."""
    code = (
        f"import runpy, sys; sys.argv = ['probe', {json.dumps(spec)!r}]; runpy.run_path({probe!r}, run_name='__main__')"
    )
    return ["python", "-c", code]


def run_in_image(service: str, *command: str, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> str:
    """Run a command in the image as the chart does: user 10001, read-only root, the chart's mounts as tmpfs."""
    tmpfs = [arg for path in sorted(chart_mounts(service)) for arg in ("--tmpfs", f"{path}:rw,mode=1777")]
    env = {"HEADSHOTS_VAR_DIR": CHART_VAR_DIR, **(env or {})}
    env_args = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    result = podman.podman(
        "run",
        "--rm",
        "--network=none",
        "--user=10001:10001",
        "--read-only",
        "--read-only-tmpfs=false",  # podman's own tmpfs on /run, /tmp and /var/tmp: the chart has none
        *tmpfs,
        *env_args,
        *extra,
        image_ref(service),
        *command,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} in the {service} image:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def probe_spec(service: str) -> dict[str, Any]:
    spec = IMAGES[service]
    pins = constraint_pins()
    return {
        "service": service,
        "python": PYTHON,
        "venv": VENV,
        "packages": packages(service),
        "modules": spec["modules"],
        "attrs": spec.get("attrs", []),
        "django": spec["django"],
        "wsgi": spec.get("wsgi", []),
        "manage_commands": spec.get("manage_commands", []),
        "scripts": spec["scripts"],
        "forbidden": spec["forbidden"],
        "foreign": sorted({f"headshots-{name}" for name in SERVICES} - {f"headshots-{service}"} | {"headshots-tools"}),
        "pinned": {name: pins[name] for name in spec["pinned"]},
    }


# --------------------------------------------------------------------------
# The built images
# --------------------------------------------------------------------------


@pytest.mark.images
@pytest.mark.parametrize("service", SERVICES)
def test_image_imports_what_the_chart_runs(built_images, service):
    output = run_in_image(
        service,
        *probe_command("/probe/image_probe.py", probe_spec(service)),
        env=IMAGES[service]["env"],
        extra=("--volume", f"{PROBE_SCRIPT}:/probe/image_probe.py:ro"),
    )
    assert f"{service}: every check passed" in output, output


@pytest.mark.images
@pytest.mark.parametrize("service", SERVICES)
def test_image_holds_no_tests_or_developer_files(built_images, service):
    # Our own code: the installed packages and, for the gateway, its source tree under /app.
    ours = f"/app {VENV}/lib/python{PYTHON}/site-packages/headshots_common " + " ".join(
        f"{VENV}/lib/python{PYTHON}/site-packages/{p}" for p in packages(service)
    )
    listing = run_in_image(
        service,
        "sh",
        "-c",
        f"find {ours} \\( -name tests -o -name conftest.py -o -name .git -o -name var -o -name .venv"
        " -o -name Dockerfile \\) -print; "
        # A test module by what it holds: test_mode.py (test-mode orders) is the gateway's own code.
        f"find {ours} -name 'test_*.py' -exec grep -l -E '^[[:space:]]*(async )?def test_' {{}} + || true",
    )
    assert listing.strip() == "", f"test or development files in the {service} image:\n{listing}"
    dists = {canonicalize_name(d["name"]) for d in json.loads(run_in_image(service, "pip", "list", "--format=json"))}
    assert not dists & DEV_ONLY, sorted(dists & DEV_ONLY)


@pytest.mark.images
@pytest.mark.parametrize("service", SERVICES)
def test_user_writes_only_where_the_chart_mounts_volumes(built_images, service):
    """As user 10001 with the chart's read-only root: every writable directory lies on one of its mounts."""
    script = (
        "import os, sys\n"
        "found = []\n"
        "for top, dirs, _ in os.walk('/'):\n"
        "    dirs[:] = [d for d in dirs if os.path.join(top, d) not in ('/proc', '/sys', '/dev')]\n"
        "    if os.access(top, os.W_OK):\n"
        "        found.append(top)\n"
        "print('\\n'.join(found))\n"
    )
    writable = set(run_in_image(service, "python", "-c", script).split())
    mounts = chart_mounts(service)
    outside = sorted(path for path in writable if not any(path == m or path.startswith(m + "/") for m in mounts))
    assert mounts and not outside, f"user 10001 can write outside the chart's mounts {sorted(mounts)}: {outside}"
    # And without the read-only root, the image itself gives the user nothing of its own: only Debian's
    # world-writable scratch folders, which the chart's read-only root closes.
    script_rw = script.replace("found.append(top)", "found.append(top) if os.stat(top).st_uid == os.getuid() else None")
    result = podman.podman(
        "run", "--rm", "--network=none", "--user=10001:10001", image_ref(service), "python", "-c", script_rw
    )
    assert result.stdout.split() == [], f"the {service} image gives user 10001 its own files: {result.stdout}"


@pytest.mark.images
@pytest.mark.parametrize("service", SERVICES)
def test_image_packages_are_the_audited_pins(built_images, service):
    """Every distribution in the image is one constraints.txt pins, at that version: the dependency audit
    (tests/test_dependency_audit.py, pip-audit over constraints.txt) covers what ships."""
    installed = {
        canonicalize_name(d["name"]): d["version"]
        for d in json.loads(run_in_image(service, "pip", "list", "--format=json"))
    }
    pins = constraint_pins()
    ours = {canonicalize_name("headshots-common"), canonicalize_name(f"headshots-{service}")}
    # pip, setuptools: what `python -m venv` puts in every virtualenv, pinned by the base's Python.
    unpinned = {
        name: version
        for name, version in installed.items()
        if name not in ours | {"pip", "setuptools"} and pins.get(name) != version.split("+")[0]
    }
    assert not unpinned, f"{service} image: not as constraints.txt pins them: " + ", ".join(
        f"{name}=={version} (pinned: {pins.get(name)})" for name, version in sorted(unpinned.items())
    )
    if service == "gateway":
        assert not installed.keys() & set(GATEWAY_FORBIDDEN), sorted(installed.keys() & set(GATEWAY_FORBIDDEN))
    else:
        assert installed["torch"].split("+")[0] == pins["torch"]


# --------------------------------------------------------------------------
# The probe checks what the chart and the images run (fast: no build)
# --------------------------------------------------------------------------


def image_service(image: str) -> str | None:
    match = re.search(r"headshots/(gateway|trainer|renderer)[:@]", image)
    return match.group(1) if match else None


def commands_run() -> set[tuple[str, tuple[str, ...]]]:
    """(service, command) for every command of the chart and every image's CMD; () for KubeRay's `ray start`."""
    found = set()
    for _, template in pod_templates(render()):
        spec = template["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            service = image_service(container["image"])
            if service is None:
                continue
            found.add((service, tuple(container.get("command") or ()) + tuple(container.get("args") or ())))
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                command = container.get(probe, {}).get("exec", {}).get("command")
                if command:
                    found.add((service, tuple(command)))
    for service in SERVICES:
        cmd = [
            line
            for line in (REPO_ROOT / "services" / service / "Dockerfile").read_text().splitlines()
            if line.startswith("CMD ")
        ]
        found.add((service, tuple(json.loads(cmd[-1][4:]))))
    return found


def gunicorn_loads(arguments: list[str]) -> set[str]:
    """What a gunicorn command line imports: its WSGI app and a `--config python:<module>`."""
    loads, skip_next = set(), False
    for at, argument in enumerate(arguments):
        if skip_next:
            skip_next = False
        elif argument == "--config":
            loads.add(arguments[at + 1].removeprefix("python:"))
            skip_next = True
        elif argument.startswith("--"):
            skip_next = "=" not in argument
        else:
            loads.add(argument)
    return loads


def test_probe_covers_every_process_the_chart_and_images_run():
    uncovered = []
    for service, command in sorted(commands_run()):
        spec = IMAGES[service]
        match command:
            case ():
                covered = "ray" in spec["scripts"]  # KubeRay's `ray start` in the Ray head and workers
            case ("gunicorn", *arguments):
                covered = "gunicorn" in spec["scripts"] and gunicorn_loads(arguments) <= (
                    set(spec.get("wsgi", [])) | set(spec["modules"])
                )
            case ("python", "manage.py", name, *_):
                covered = spec["django"] and name in spec.get("manage_commands", [])
            case ("python", "-m", module, *_):
                covered = module in spec["modules"] or f"{module}.__main__" in spec["modules"]
            case _:
                covered = False
        if not covered:
            uncovered.append(f"{service}: {' '.join(command) or '(ray start)'}")
    assert not uncovered, f"IMAGES in {__name__} does not check: {uncovered}"


def test_probe_covers_the_ray_serve_config():
    (rayservice,) = [obj for obj in render() if obj["kind"] == "RayService"]
    serve = yaml.safe_load(rayservice["spec"]["serveConfigV2"])
    wanted = [app["import_path"] for app in serve["applications"]] + serve["grpc_options"]["grpc_servicer_functions"]
    assert set(wanted) <= set(IMAGES["renderer"]["attrs"])


def test_probe_reports_a_failed_import_clearly(tmp_path):
    """A dependency missing from a pyproject fails the probe with the module and the import named."""
    package = tmp_path / "headshots_fake"
    package.mkdir()
    (package / "__init__.py").write_text(
        "def render():\n"
        "    import headshots_lazily_missing  # a lazy import of an undeclared dependency\n"
        "\n"
        "\n"
        "def guarded():\n"
        "    try:\n"
        "        import headshots_optional\n"
        "    except ImportError:\n"
        "        pass\n"
    )
    (package / "engine.py").write_text("import headshots_missing_dependency\n")
    spec = {
        "service": "fake",
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "venv": sys.prefix,
        "packages": ["headshots_fake"],
        "modules": ["headshots_fake", "headshots_no_such_module"],
        "attrs": [],
        "django": False,
        "wsgi": [],
        "manage_commands": [],
        "scripts": [],
        "forbidden": [],
        "foreign": [],
        "pinned": {},
    }
    python, *args = probe_command(str(PROBE_SCRIPT), spec)
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "ok   import headshots_fake" in output
    assert (
        "FAIL import headshots_no_such_module: ModuleNotFoundError: No module named 'headshots_no_such_module'"
    ) in output
    assert (
        "FAIL every module of headshots_fake: ImportError: headshots_fake.engine: ModuleNotFoundError: "
        "No module named 'headshots_missing_dependency'"
    ) in output
    assert (
        "FAIL lazy imports: ImportError: headshots_fake (__init__.py:2): `import headshots_lazily_missing`: "
        "ModuleNotFoundError: No module named 'headshots_lazily_missing'"
    ) in output
    assert "headshots_optional" not in output  # guarded by `except ImportError`: optional
    assert "fake: 3 check(s) failed:" in output
