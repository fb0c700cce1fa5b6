"""One local stack shaped like the cluster, shared by the cross-service tests (end to end, CLI, studio)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from browser_support import CHROMIUM
from stack_support import OtlpTraceCollector, boto_args

from headshots_tools.localstack import Ports, Stack, scratch_database

IMAGES_TIMEOUT_S = 3600


@pytest.hookimpl(trylast=True)  # after -k/-m selection
def pytest_collection_modifyitems(session, config, items):
    """Tests marked `images` build and run the service images (minutes on a machine without their layers): a run
    has them only when its -m expression names them (`pytest -m images`, a stage of .ci/run of its own)."""
    if "images" in (config.option.markexpr or ""):
        # The first of them builds whatever `make images` has not (a cold build of the three: about 20 minutes
        # on two busy cores), past the suite's per-test timeout.
        for item in items:
            if item.get_closest_marker("images"):
                item.add_marker(pytest.mark.timeout(IMAGES_TIMEOUT_S))
        return
    left_out = [item for item in items if item.get_closest_marker("images")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("images")]


@pytest.fixture(scope="session")
def built_images() -> list:
    """The three service images, built (or found in the layer cache) as `make images` builds them."""
    from headshots_tools import images, podman

    try:
        return images.build_all()
    except podman.PodmanError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def bucket(s3_server) -> str:
    import boto3

    name = f"headshots-e2e-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", **boto_args(s3_server)).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def otlp_collector():
    collector = OtlpTraceCollector()
    yield collector
    collector.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory, s3_server, bucket, otlp_collector):
    """2 trainer workers and 2 renderer replicas, blobs in an S3 bucket, PostgreSQL in CI; traces exported by OTLP."""
    with scratch_database(os.environ.get("DATABASE_URL", "")) as database:
        stack = Stack(
            var_dir=tmp_path_factory.mktemp("stack"),
            ports=Ports.free(),
            trainers=2,
            renderer_replicas=2,
            extra_env={
                "HEADSHOTS_TRAIN_STEPS": "30",
                "HEADSHOTS_BLOB_URL": f"s3://{bucket}/headshots",
                **s3_server,
                **database,
                "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_collector.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "500",  # spans leave within half a second (default 5 s)
            },
        )
        stack.up()
        try:
            yield stack
        finally:
            stack.down()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, driven by Playwright (the studio's keyboard-only journeys: tests/browser_support.py)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium (make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
