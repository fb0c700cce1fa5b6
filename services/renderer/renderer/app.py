"""The Ray Serve application: RendererService over Ray Serve's gRPC proxy.

Ray Serve calls the deployment method named like the RPC with the request
message; a generator method serves a server-streaming RPC.
"""

from __future__ import annotations

import logging

from ray import serve

from headshots.v1 import renderer_service_pb2 as pb
from renderer.config import load

log = logging.getLogger(__name__)


@serve.deployment(name="Renderer", num_replicas=1, max_ongoing_requests=16)
class RendererDeployment:
    def __init__(self):
        from renderer.engine import RenderEngine  # torch and diffusers load inside the replica only

        config = load()
        self.engine = RenderEngine(
            config.shared.base_model, config.shared.base_model_arch, config.shared.blob_url, config.device,
            default_steps=config.num_inference_steps, default_guidance=config.guidance_scale,
            max_batch=config.max_batch,
        )
        log.info("renderer replica ready with base model %s", self.engine.base_model)

    def Render(self, request: pb.RenderRequest):
        for rendered in self.engine.render(request):
            yield pb.RenderResponse(index=rendered.index, style_id=rendered.style_id, seed=rendered.seed,
                                    width=rendered.image.width, height=rendered.image.height, png=rendered.png())

    def PrefetchAdapter(self, request: pb.PrefetchAdapterRequest) -> pb.PrefetchAdapterResponse:
        # Adapters are read from the blob store per request for now; a cached one is one that is there.
        return pb.PrefetchAdapterResponse(cached=self.engine.blobs.exists(request.adapter.adapter_key))

    def EvictAdapter(self, request: pb.EvictAdapterRequest) -> pb.EvictAdapterResponse:
        return pb.EvictAdapterResponse(evicted=False)  # nothing is cached between requests yet

    def GetStats(self, request: pb.GetStatsRequest) -> pb.GetStatsResponse:
        return pb.GetStatsResponse(images_rendered=self.engine.images_rendered)

    def check_health(self):
        if self.engine.pipe is None:
            raise RuntimeError("base pipeline not loaded")


app = RendererDeployment.bind()
