"""Fixtures shared by every test package: the real Kafka-compatible broker, the tiny model, real photos."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from headshots_common import bus
from headshots_tools.localstack import broker_command, scratch_database
from headshots_tools.ports import free_port

PHOTOS_DIR = Path(__file__).parent / "tests" / "fixtures" / "photos"
PERSON_PHOTOS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg"]


class Broker:
    """A Tansu broker (memory storage) on a fixed loopback port; it can be stopped and started again there."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(broker_command(self.port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bus.wait_for_broker(self.bootstrap)
        bus.ensure_topics(self.bootstrap)  # memory storage: a restarted broker starts empty

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """A broker shared by the session, stopped after it."""
    broker = Broker()
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def own_broker():
    """A broker of the test's own, which the test may stop and start again."""
    broker = Broker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    from headshots_tools.tinymodel import generate_tiny_base_model

    return str(generate_tiny_base_model(tmp_path_factory.mktemp("models") / "tiny-sd15", "sd15"))


@pytest.fixture(scope="session")
def person_photos() -> list[Path]:
    return [PHOTOS_DIR / name for name in PERSON_PHOTOS]


@pytest.fixture(scope="session")
def other_person_photo() -> Path:
    return PHOTOS_DIR / "biden.jpg"


@pytest.fixture(scope="session")
def s3_server() -> dict[str, str]:
    """An S3-compatible server (moto) on a free loopback port: the AWS_* variables that reach it.

    S3 itself cannot run on this machine; moto serves the S3 REST API over real HTTP, so boto3
    and every service process talk to it exactly as to a bucket in the cluster.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack_database():
    """For a local stack of a test module: its own database (see `scratch_database`)."""
    with scratch_database(os.environ.get("DATABASE_URL", "")) as settings:
        yield settings
