"""Fixtures shared by every test package: the real Kafka-compatible broker, the tiny model, real photos, the
renderer's gRPC service."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from pathlib import Path

import pytest

from headshots_common import bus
from headshots_tools.localstack import broker_command, scratch_database
from headshots_tools.ports import free_port

PHOTOS_DIR = Path(__file__).parent / "tests" / "fixtures" / "photos"


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
    """Five photos of one person that pass every photo check: the demo's (`headshots_tools.demo.DEMO_PHOTOS`)."""
    from headshots_tools.demo import DEMO_PHOTOS

    return list(DEMO_PHOTOS)


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


class RendererServer:
    """RendererService over real gRPC on a loopback port, served by the Ray Serve deployment's own class without
    Ray (the engine set directly, as tests of the deployment do), recording every request it receives."""

    def __init__(self, engine):
        import grpc

        from headshots.v1 import renderer_service_pb2_grpc as pb_grpc
        from renderer.app import RendererDeployment

        requests = self.requests = []

        class Recording(RendererDeployment.func_or_class):  # type: ignore[misc, name-defined]
            async def Render(self, request, grpc_context=None):
                requests.append(request)
                async for response in super().Render(request, grpc_context):
                    yield response

        servicer = Recording.__new__(Recording)  # no Ray: the engine is set directly instead of loaded
        servicer.engine = self.engine = engine
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def serve():  # an aio server belongs to the loop it is made on
            server = grpc.aio.server()
            pb_grpc.add_RendererServiceServicer_to_server(servicer, server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            return server, port

        self.server, port = asyncio.run_coroutine_threadsafe(serve(), self.loop).result(30)
        self.target = f"127.0.0.1:{port}"

    def rendered(self) -> int:
        """Images asked for so far."""
        return sum(len(r.items) for r in self.requests)

    def seeds(self) -> list[tuple[str, int]]:
        return [(item.style_id, item.seed) for r in self.requests for item in r.items]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(None), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.engine.close()


@pytest.fixture
def renderer_service(tiny_model):
    """Start RendererService (tiny model, 1 step) reading adapters from the given blob store; stopped after."""
    from diffusers import StableDiffusionPipeline

    from renderer.engine import EngineSettings, RenderEngine

    started: list[RendererServer] = []

    def start(blobs) -> RendererServer:
        pipe = StableDiffusionPipeline.from_pretrained(tiny_model, safety_checker=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        started.append(RendererServer(RenderEngine(pipe, blobs, EngineSettings(default_steps=1, max_wait_s=0.01))))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def rendering_events(kafka_bootstrap):
    """Read the rendering topic from its start: the events of one order (every event, or those of one kind)."""
    from kafka import KafkaConsumer, TopicPartition

    def read(order_id: str, kind: str | None = None) -> list:
        consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False)
        try:
            numbers = consumer.partitions_for_topic(bus.RENDERING_TOPIC) or set()
            partitions = [TopicPartition(bus.RENDERING_TOPIC, n) for n in numbers]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            ends = consumer.end_offsets(partitions)
            found = []
            while any(consumer.position(p) < ends[p] for p in partitions):
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        event = bus.decode_event(record.value)
                        if event.order_id == order_id and kind in (None, bus.payload_kind(event)):
                            found.append(event)
            return found
        finally:
            consumer.close()

    return read
