"""Each service's image environment, installed for real and imported (issue #5).

tools/headshots_tools/imagecheck/check_service_env.py builds, for the gateway, the trainer and the
renderer, a fresh virtualenv (`python -m venv`, no system site packages) holding exactly what the
service's Dockerfile installs: its build stage's `pip install -c constraints.txt ./libs/common[...]
./services/<name>` (non-editable, from a copy of the build context outside the repository), then that
RUN's `pip check` and checks. tools/headshots_tools/imagecheck/service_env_probe.py then runs in each
virtualenv from the image's WORKDIR (the gateway's source tree, as the image copies it; an empty /app
otherwise, so nothing from the repository can shadow the installed packages) and imports what the
Helm chart and the image's CMD run, every module of the service, and every import written inside its
functions.

Unlike the dependency-closure tests of test_dependency_closures.py, nothing here reads metadata of
the development environment: a dependency missing from a pyproject.toml fails an import here.

Slow (minutes of pip: torch twice, ray once), hence marked `slow` (`-m "not slow"` skips it).
tests/deploy/conftest.py starts the build in the background, at the lowest priority, when
collection ends and runs the tests that need it last; the session's summary reports its times.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml
from deploy_support import PROBE_SCRIPT, REPO_ROOT, SERVICES, load_check_script, pod_templates, render
from packaging.utils import canonicalize_name

# What must never reach the gateway image: torch and everything the `ml` extra or Ray brings.
GATEWAY_FORBIDDEN = {"torch", "ray", "diffusers", "transformers", "peft", "accelerate", "safetensors"}


def constraint_pin(name: str) -> str:
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        requirement, _, version = line.partition("==")
        if version and canonicalize_name(requirement) == canonicalize_name(name):
            return version.strip()
    raise AssertionError(f"constraints.txt pins no {name}")


def failure_message(report: dict[str, Any]) -> str:
    lines = [f"the {report['service']} image environment failed (full log: {report['log']}):"]
    lines += [f"--- {failure}" for failure in report["failures"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# The fresh environments (built by tests/deploy/conftest.py)
# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("service", SERVICES)
def test_service_environment_installs_and_imports_cleanly(service_envs, service):
    report = service_envs[service]
    assert report["ok"], failure_message(report)
    steps = [step["step"] for step in report["steps"]]
    assert any(step.startswith("pip install") for step in steps) and "pip check" in steps, steps
    assert steps[-1].startswith("import check"), steps


@pytest.mark.slow
def test_gateway_environment_has_no_torch(service_envs):
    report = service_envs["gateway"]
    installed = set(report.get("distributions", {}))
    assert installed, failure_message(report)
    assert {"headshots-common", "headshots-gateway", "django", "grpcio", "psycopg", "redis"} <= installed
    assert not installed & GATEWAY_FORBIDDEN, sorted(installed & GATEWAY_FORBIDDEN)
    assert not installed & {"headshots-trainer", "headshots-renderer"}


@pytest.mark.slow
def test_ml_environments_install_the_pinned_torch(service_envs):
    """torch==2.13.0 by the constraints (the CPU build on this machine, the CUDA build in the image)."""
    for service in ("trainer", "renderer"):
        installed = service_envs[service].get("distributions", {})
        assert installed.get("torch", "").split("+")[0] == constraint_pin("torch"), (service, installed.get("torch"))
        assert f"headshots-{service}" in installed
        assert not installed.keys() & {"django", "headshots-gateway"} - {f"headshots-{service}"}
    assert service_envs["renderer"]["distributions"]["ray"] == constraint_pin("ray")


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
    table = load_check_script().SERVICES
    uncovered = []
    for service, command in sorted(commands_run()):
        spec = table[service]
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
    assert not uncovered, f"tools/headshots_tools/imagecheck/check_service_env.py SERVICES does not check: {uncovered}"


def test_probe_covers_the_ray_serve_config():
    (rayservice,) = [obj for obj in render() if obj["kind"] == "RayService"]
    serve = yaml.safe_load(rayservice["spec"]["serveConfigV2"])
    wanted = [app["import_path"] for app in serve["applications"]] + serve["grpc_options"]["grpc_servicer_functions"]
    assert set(wanted) <= set(load_check_script().SERVICES["renderer"]["attrs"])


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
        "repo_root": str(REPO_ROOT),
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
    probe = PROBE_SCRIPT
    code = (
        f"import runpy, sys; sys.argv = ['probe', {json.dumps(spec)!r}]; "
        f"runpy.run_path({str(probe)!r}, run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
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
