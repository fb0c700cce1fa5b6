"""One local stack shaped like the cluster, shared by the cross-service tests (end to end, CLI, studio)."""

from __future__ import annotations

import os
import uuid

import pytest
from stack_support import OtlpTraceCollector, boto_args

from headshots_tools.localstack import Ports, Stack, scratch_database


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
