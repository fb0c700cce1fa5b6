"""`python -m renderer.dispatcher`: renders each trained order's style pack through RendererService.

Consumes TrainingCompleted from Kafka, streams the images from the renderer's
gRPC API, stores them, and publishes progress and RenderCompleted. The offset
is committed only once the images and their manifest are stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import grpc

from headshots.v1 import common_pb2, events_pb2, renderer_service_pb2 as pb, renderer_service_pb2_grpc as pb_grpc
from headshots_common import bus
from headshots_common.blobstore import open_blob_store, order_prefix
from headshots_common.process import Heartbeat, configure_logging, stop_on_signals
from renderer.config import DISPATCHER_HEARTBEAT_FILE_NAME, RendererConfig, load

log = logging.getLogger(__name__)


def image_seed(order_id: str, style_id: str, index: int) -> int:
    """A stable seed per image: re-rendering an order reproduces its headshots."""
    digest = hashlib.sha256(f"{order_id}:{style_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


def render_request(order_id: str, completed: events_pb2.TrainingCompleted) -> pb.RenderRequest:
    spec = completed.render_spec
    items = [pb.RenderItem(style_id=style_id, seed=image_seed(order_id, style_id, i))
             for style_id in spec.style_ids for i in range(max(1, spec.images_per_style))]
    return pb.RenderRequest(
        request_id=f"order-pack:{order_id}",
        adapter=pb.AdapterRef(adapter_id=order_id, adapter_key=completed.adapter_key),
        subject_phrase=completed.subject_phrase, items=items,
    )


class RenderDispatcher:
    def __init__(self, config: RendererConfig):
        self.config = config
        self.blobs = open_blob_store(config.shared.blob_url)
        self.producer = bus.make_producer(config.shared.kafka_bootstrap)
        self.channel = grpc.insecure_channel(config.grpc_target,
                                             options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        self.renderer = pb_grpc.RendererServiceStub(self.channel)
        self.heartbeat = Heartbeat(Path(config.shared.var_dir) / DISPATCHER_HEARTBEAT_FILE_NAME)

    def handle(self, event: events_pb2.Event) -> None:
        if bus.payload_kind(event) != "training_completed":
            return
        order_id = event.order_id
        manifest_key = f"{order_prefix(order_id)}headshots/manifest.json"
        if self.blobs.exists(manifest_key):  # redelivered: the pack is stored already
            headshots = [common_pb2.Headshot(**h) for h in json.loads(self.blobs.get(manifest_key))]
        else:
            headshots = self._render_pack(order_id, event.training_completed)
            if headshots is None:
                return
            self.blobs.put(manifest_key, json.dumps([_headshot_dict(h) for h in headshots]).encode())
        self._publish(order_id, render_completed=events_pb2.RenderCompleted(headshots=headshots))

    def _render_pack(self, order_id: str, completed) -> list[common_pb2.Headshot] | None:
        request = render_request(order_id, completed)
        total, started, headshots = len(request.items), time.monotonic(), []
        try:
            for response in self.renderer.Render(request, timeout=3600):
                key = f"{order_prefix(order_id)}headshots/{response.style_id}-{response.index:03d}.png"
                self.blobs.put(key, response.png)
                headshots.append(common_pb2.Headshot(key=key, style_id=response.style_id, seed=response.seed,
                                                     width=response.width, height=response.height))
                done = len(headshots)
                eta = (time.monotonic() - started) / done * (total - done)
                self._publish(order_id, render_progress=events_pb2.RenderProgress(
                    images_done=done, images_total=total, eta_seconds=eta))
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise  # transient: the event is not committed and is retried
            log.error("rendering order %s failed: %s", order_id, exc.details())
            self._publish(order_id, render_failed=events_pb2.RenderFailed(
                reason=events_pb2.FAILURE_REASON_INTERNAL, message=f"rendering failed: {exc.code().name}"))
            return None
        return headshots

    def _publish(self, order_id: str, **payload) -> None:
        bus.publish(self.producer, bus.RENDERING_TOPIC, bus.new_event(order_id, **payload))

    def run(self, stop: threading.Event) -> None:
        consumer = bus.make_consumer(self.config.shared.kafka_bootstrap, self.config.consumer_group,
                                     [bus.TRAINING_TOPIC], max_poll_records=1)
        try:
            while not stop.is_set():
                self.heartbeat.beat()
                for messages in consumer.poll(timeout_ms=500).values():
                    for message in messages:
                        self._handle_with_retry(bus.decode_event(message.value), stop)
                consumer.commit()
        finally:
            consumer.close()
            self.producer.close()
            self.channel.close()

    def _handle_with_retry(self, event, stop: threading.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            try:
                self.handle(event)
                return
            except grpc.RpcError as exc:
                log.warning("renderer unavailable (%s); retrying in %.0fs", exc.code().name, delay)
                stop.wait(delay)
                delay = min(delay * 2, 30.0)


def _headshot_dict(h: common_pb2.Headshot) -> dict:
    return {"key": h.key, "style_id": h.style_id, "seed": h.seed, "width": h.width, "height": h.height,
            "likeness_score": h.likeness_score}


def main() -> None:
    configure_logging()
    config = load()
    stop = stop_on_signals()
    bus.wait_for_broker(config.shared.kafka_bootstrap, timeout_s=60)
    RenderDispatcher(config).run(stop)


if __name__ == "__main__":
    main()
