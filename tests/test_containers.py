"""One order through the service images run as containers (`make up CONTAINERS=1`, `make demo CONTAINERS=1`).

Every service of the local stack (broker, gateway web, gRPC and worker, trainer, renderer and dispatcher) runs
as a podman container of its image, as the chart's securityContext runs it: user 10001, read-only root
filesystem, /tmp a tmpfs. The demo's order (a consumer signs up through the e-mail, uploads selfies, gets
headshots) goes through them end to end; then `down` stops them with SIGTERM, and each must have exited on
its own, not by the SIGKILL that follows the timeout.

Marked `images` (tests/conftest.py): the default run leaves it out; .ci/run runs it in its images stage.
"""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from headshots_tools import podman
from headshots_tools.demo import run_demo
from headshots_tools.localstack import Ports, Stack, scratch_database

pytestmark = pytest.mark.images

# podman stop's timeout: a container still running after it gets SIGKILL (exit code 137).
STOP_TIMEOUT_S = 30
SIGKILLED = 128 + 9


@pytest.fixture(scope="module")
def container_stack(built_images, tmp_path_factory):
    with scratch_database(os.environ.get("DATABASE_URL", "")) as database:
        stack = Stack(
            var_dir=tmp_path_factory.mktemp("containers"),
            ports=Ports.free(),
            containers=True,
            extra_env={"HEADSHOTS_TRAIN_STEPS": "30", **database},
        )
        stack.up()
        try:
            yield stack
        finally:
            stack.down(timeout_s=STOP_TIMEOUT_S)


def test_every_service_runs_in_its_image_as_the_chart_runs_it(container_stack):
    running = container_stack.running()
    assert set(running) >= {s.name for s in container_stack.services()}, running
    for service in container_stack.services():
        inspected = json.loads(
            podman.podman(
                "inspect", "--type=container", container_stack.container_runner.container(service.name)
            ).stdout
        )[0]
        assert inspected["Config"]["User"] == "10001:10001", service.name
        assert inspected["HostConfig"]["ReadonlyRootfs"] is True, service.name
        if service.image:
            assert inspected["ImageName"].endswith(f"headshots/{service.image}:0.1.0"), inspected["ImageName"]


def test_an_order_completes_through_the_containers(container_stack, tmp_path):
    result = run_demo(
        container_stack, package="trial", styles=["corporate-navy", "executive-black"], out_dir=tmp_path, timeout_s=600
    )
    assert result.state == "completed", result.order
    assert len(result.files) >= 4
    for path in result.files:
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 64


def test_down_stops_every_container_on_sigterm(container_stack):
    names = {s.name for s in container_stack.services()}
    stopped = container_stack.down(timeout_s=STOP_TIMEOUT_S)
    assert set(stopped) == names
    assert container_stack.running() == {}
    stops = json.loads((container_stack.run_dir / "stop-seconds.json").read_text())
    killed = {name: stop for name, stop in stops.items() if stop["exit_code"] == SIGKILLED}
    assert not killed, f"these ignored SIGTERM and were killed after {STOP_TIMEOUT_S} s: {killed}"
