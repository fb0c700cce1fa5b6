"""tests/deploy: shared fixtures, and the fresh service environments that test_service_images.py checks.

The rendered chart: default_objects and all_objects (rendered once per test module, with the helpers
of deploy_support.py; test modules never import each other).

Building the fresh environments (tools/headshots_tools/imagecheck/check_service_env.py: three real
`pip install`s, torch twice) takes minutes, most of it CPU and network waits. So that it does not add
those minutes to the suite, the build starts in the background, at the lowest CPU and I/O priority, as
soon as collection has selected a test of test_service_images.py, and those tests run last; they wait
for whatever is left of the build. The end of the session reports the build's times and how long the
tests waited for it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from deploy_support import ALL_FEATURES, CHECK_SCRIPT, REPO_ROOT, SERVICES, render

CHECK_NAME = CHECK_SCRIPT.relative_to(REPO_ROOT).as_posix()
MODULE = "test_service_images.py"
# The longest the tests wait for the build. Measured on two cores: 3 minutes alone with pip's wheel
# cache as `make install` leaves it, 5.5 with an empty cache, 6 at the lowest priority beside the suite.
BUILD_TIMEOUT_S = 840


# --------------------------------------------------------------------------
# The rendered chart
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    """The chart rendered with its default values (per module: some tests edit what they get)."""
    return render()


@pytest.fixture(scope="module")
def all_objects() -> list[dict[str, Any]]:
    """The chart rendered with every optional feature on (deploy_support.ALL_FEATURES)."""
    return render(ALL_FEATURES)


# --------------------------------------------------------------------------
# The fresh service environments
# --------------------------------------------------------------------------


def torch_pin() -> str | None:
    match = re.search(r"^torch==(\S+)", (REPO_ROOT / "constraints.txt").read_text(), re.MULTILINE)
    return match.group(1) if match else None


class ServiceEnvBuild:
    """One run of the image-environment check (CHECK_SCRIPT) for the three services, in a scratch directory."""

    def __init__(self, background: bool):
        self.workdir = Path(tempfile.mkdtemp(prefix="headshots-service-envs-"))
        self.report_path = self.workdir / "report.json"
        self.log_path = self.workdir / "check.out"
        self.background = background
        self.started = time.monotonic()
        self.finished: float | None = None
        self.waited_s = 0.0
        self.error: str | None = None
        self.process: subprocess.Popen | None = None
        # The fresh environments get torch from the pin in constraints.txt: refuse to start when that
        # differs from the torch `make install` put in this environment (on this machine only
        # torch 2.13.0 is on local disk; another version would download gigabytes, twice).
        installed = importlib.metadata.version("torch").split("+")[0]
        if torch_pin() != installed:
            self.error = (
                f"constraints.txt pins torch=={torch_pin()} but this environment has torch {installed}: "
                "run `make install` first (the fresh environments install the pinned torch)"
            )
            return
        command = [
            sys.executable,
            str(CHECK_SCRIPT),
            "--workdir",
            str(self.workdir),
            "--report",
            str(self.report_path),
            *(["--background"] if background else []),
            *SERVICES,
        ]
        with self.log_path.open("w") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
            )

    def wait(self) -> dict[str, Any]:
        if self.finished is None and self.process is not None:
            waiting = time.monotonic()
            try:
                self.process.wait(timeout=max(1.0, BUILD_TIMEOUT_S - (waiting - self.started)))
            except subprocess.TimeoutExpired:
                self.stop()
                self.error = f"{CHECK_NAME} ran past {BUILD_TIMEOUT_S}s; its output: {self.log_path}"
            self.finished = time.monotonic()
            self.waited_s = self.finished - waiting
            if not self.error and not self.report_path.exists():
                self.error = f"{CHECK_NAME} wrote no report:\n{self.log_path.read_text()[-5000:]}"
        if self.error:
            pytest.fail(self.error, pytrace=False)
        report = json.loads(self.report_path.read_text())
        return {entry["service"]: entry for entry in report["services"]}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session and group: pip and the probes too
            self.process.wait(timeout=30)

    def cleanup(self) -> None:
        """Everything goes, except the logs of a failed build (the venvs go anyway: gigabytes)."""
        self.stop()
        report = json.loads(self.report_path.read_text()) if self.report_path.exists() else None
        if report and all(entry["ok"] for entry in report["services"]):
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            for service in SERVICES:
                shutil.rmtree(self.workdir / service / "root", ignore_errors=True)

    def summary(self) -> str:
        if self.error:
            return f"FAILED: {self.error}"
        if self.finished is None:
            return "not waited for (the session ended before its tests ran); stopped"
        if not self.report_path.exists():
            return f"no report (output: {self.log_path})"
        report = json.loads(self.report_path.read_text())
        parts = [
            f"{entry['service']} {'ok' if entry['ok'] else 'FAILED'} {entry['seconds']:.0f}s"
            for entry in report["services"]
        ]
        mode = "in the background from the end of collection" if self.background else "in the foreground"
        return (
            f"{', '.join(parts)}; wall {report['wall_seconds']:.0f}s {mode}; "
            f"the tests waited {self.waited_s:.0f}s for it"
        )


BUILD_KEY = pytest.StashKey[ServiceEnvBuild]()


@pytest.hookimpl(trylast=True)  # after -k/-m deselection
def pytest_collection_modifyitems(session, config, items):
    ours = [item for item in items if item.path.name == MODULE and "service_envs" in item.fixturenames]
    if not ours or config.option.collectonly:
        return
    # Run last, so that the build overlaps the rest of the suite.
    chosen = set(ours)
    items[:] = [item for item in items if item not in chosen] + ours
    others = [item for item in items if item.path.name != MODULE]
    config.stash[BUILD_KEY] = ServiceEnvBuild(background=bool(others))


@pytest.fixture(scope="session")
def service_envs(request) -> dict[str, Any]:
    """The report of the image-environment check (check_service_env.py): per service, ok, failures, log, dists."""
    build = request.config.stash.get(BUILD_KEY, None)
    if build is None:  # collected in an unusual way (e.g. by node id through a plugin): build now
        build = request.config.stash[BUILD_KEY] = ServiceEnvBuild(background=False)
    return build.wait()


def pytest_terminal_summary(terminalreporter, config):
    build = config.stash.get(BUILD_KEY, None)
    if build is not None:
        terminalreporter.write_sep("-", f"fresh service environments ({CHECK_NAME})")
        terminalreporter.write_line(build.summary())


def pytest_unconfigure(config):
    build = config.stash.get(BUILD_KEY, None)
    if build is not None:
        build.cleanup()
