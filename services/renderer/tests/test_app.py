"""The Ray Serve deployment's Render method (called directly, no Ray): a bad adapter is INVALID_ARGUMENT."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from lora_helpers import sd_pipe

from headshots.v1 import renderer_service_pb2 as pb
from headshots_common import blob_layout
from headshots_common.blobstore import LocalBlobStore
from renderer.engine import EngineSettings, RenderEngine

BAD_KEY = blob_layout.adapter_key("bad", 1)


class FakeGrpcContext:
    """What Render uses of Ray Serve's RayServegRPCContext."""

    def __init__(self):
        self.code, self.details = None, None

    def set_code(self, code):
        self.code = code

    def set_details(self, details):
        self.details = details

    def invocation_metadata(self):
        return [("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]


@pytest.fixture
def deployment(tiny_model, tmp_path, lora_files):
    from renderer.app import RendererDeployment

    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.put(blob_layout.adapter_key("a1", 1), lora_files["a1"].read_bytes())
    blobs.put(BAD_KEY, b"\x00not safetensors" * 8)
    cls = RendererDeployment.func_or_class
    replica = cls.__new__(cls)  # no Ray: the engine is set directly instead of loaded in __init__
    replica.engine = RenderEngine(sd_pipe(tiny_model), blobs, EngineSettings(default_steps=1, max_wait_s=0.01))
    yield replica
    replica.engine.close()


def render(replica, request, context):
    async def collect():
        return [r async for r in replica.Render(request, grpc_context=context)]

    return asyncio.run(collect())


def test_a_bad_adapter_is_invalid_argument(deployment):
    context = FakeGrpcContext()
    bad = pb.RenderRequest(
        adapter=pb.AdapterRef(adapter_id="bad", adapter_key=BAD_KEY),
        items=[pb.RenderItem(style_id="tech-grey", seed=1)],
    )
    with pytest.raises(ValueError, match="cannot read LoRA file"):
        render(deployment, bad, context)
    assert context.code == grpc.StatusCode.INVALID_ARGUMENT and "cannot read LoRA file" in context.details

    unknown_style = pb.RenderRequest(items=[pb.RenderItem(style_id="no-such-style")])
    context = FakeGrpcContext()
    with pytest.raises(ValueError, match="unknown style"):
        render(deployment, unknown_style, context)
    assert context.code == grpc.StatusCode.INVALID_ARGUMENT

    context = FakeGrpcContext()  # a good request leaves the status alone
    good = pb.RenderRequest(
        adapter=pb.AdapterRef(adapter_id="a1", adapter_key=(blob_layout.adapter_key("a1", 1))),
        items=[pb.RenderItem(style_id="tech-grey", seed=2)],
    )
    responses = render(deployment, good, context)
    assert len(responses) == 1 and responses[0].png.startswith(b"\x89PNG") and context.code is None
