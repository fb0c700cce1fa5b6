"""`python -m renderer.dispatcher`: renders orders' headshots through RendererService.

Consumes TrainingCompleted (the order's style pack) and RenderRequested (more
headshots from a stored adapter) from Kafka, streams the images from the
renderer's gRPC API, scores each one (likeness, photo quality, headshot checks, consistency:
renderer.quality), stores the best `images_per_style` of the ceil(n * overgenerate) rendered per
style, and publishes progress and RenderCompleted with the pick's quality report. A style the quality
gate left short is rendered again for its missing images, with new seeds, for at most `top_up_rounds`
more rounds; what is still missing is the report's shortfall, per style.
The offset is committed only once the images and their manifest are stored.
A deleted order's render stops within seconds (its tombstone), and nothing of it is kept; every
renderer replica evicts the order's adapter by itself (renderer.adapter_events).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
from dataclasses import dataclass, replace

import grpc
import numpy as np
from google.protobuf import json_format
from kafka.errors import CommitFailedError, RebalanceInProgressError
from PIL import Image

from headshots.v1 import common_pb2, events_pb2, renderer_service_pb2 as pb, renderer_service_pb2_grpc as pb_grpc
from headshots_common import blob_layout, bus, logs, photo_analysis, tracing
from headshots_common.blobstore import OrderDeleted, open_blob_store
from headshots_common.lifecycle import heartbeat_of, stop_on_signals
from headshots_common.logs import configure_logging
from headshots_common.metrics import ConsumerLag, serve_metrics
from headshots_common.styles import look_prompt, look_seed
from headshots_common.tracing import configure_tracing
from renderer.config import DISPATCHER_PROCESS_NAME, RendererConfig, load
from renderer.likeness import candidates_per_style, selfie_embeddings
from renderer.observability import IMAGES_DELIVERED, IMAGES_REJECTED
from renderer.quality import Scored, pick, score_image, shortfall

log = logging.getLogger(__name__)

# While an order renders, its tombstone is looked up this often: a deletion stops its render within seconds.
DELETION_CHECK_S = 1.0
# The renderer is down or restarting: the render waits for it (the event stays uncommitted).
RENDERER_AWAY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
# A replica died under the call (Serve starts another): the render is tried again, a few times.
REPLICA_FAILED = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED}
REPLICA_FAILURE_ATTEMPTS = 4


def image_seed(order_id: str, render_id: str, style_id: str, index: int, top_up_round: int = 0) -> int:
    """A stable seed per image: rendering again reproduces a render's headshots (its top-up rounds too); two
    renders, or two rounds of one, never share seeds."""
    name = f"{order_id}:{render_id}:{style_id}:{index}"
    if top_up_round:
        name = f"{order_id}:{render_id}:{style_id}:top-up-{top_up_round}:{index}"
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:6], "big")


@dataclass(frozen=True)
class OrderRender:
    """Headshots to render for an order: its style pack after training, or a requested set of more."""

    order_id: str
    render_id: str  # blob_layout.PACK_RENDER_ID, or the RenderRequested id
    adapter_key: str
    subject_phrase: str
    render_spec: common_pb2.RenderSpec

    @classmethod
    def from_event(cls, event: events_pb2.Event) -> OrderRender | None:
        kind = bus.payload_kind(event)
        if kind == "training_completed":
            c = event.training_completed
            return cls(event.order_id, blob_layout.PACK_RENDER_ID, c.adapter_key, c.subject_phrase, c.render_spec)
        if kind == "render_requested":
            r = event.render_requested
            return cls(event.order_id, r.render_id, r.adapter_key, r.subject_phrase, r.render_spec)
        return None

    @property
    def event_render_id(self) -> str:
        """The render's id as the events carry it: empty for the order's own style pack."""
        return "" if self.render_id == blob_layout.PACK_RENDER_ID else self.render_id

    @property
    def manifest_key(self) -> str:
        return blob_layout.render_manifest_key(self.order_id, self.render_id)

    def headshot_key(self, style_id: str, index: int) -> str:
        return blob_layout.headshot_key(self.order_id, self.render_id, style_id, index)

    @property
    def images_per_style(self) -> int:
        return max(1, self.render_spec.images_per_style)

    @property
    def style_ids(self) -> list[str]:
        return list(dict.fromkeys(self.render_spec.style_ids))

    def render_request(self, candidates_per_style: int | None = None) -> pb.RenderRequest:
        """`candidates_per_style` images per style (default: as many as are delivered); seeds are stable."""
        count = candidates_per_style or self.images_per_style
        return self.top_up_request(dict.fromkeys(self.style_ids, count), 0)

    def top_up_request(self, counts: dict[str, int], top_up_round: int) -> pb.RenderRequest:
        """`counts[style]` images of each style, with the seeds of round `top_up_round` (0: the first render)."""
        adapter = pb.AdapterRef(adapter_id=self.order_id, adapter_key=self.adapter_key)
        request_id = f"{self.order_id}:{self.render_id}"
        if self.render_spec.HasField("look"):
            return self._look_request(request_id, adapter, counts, top_up_round)
        items = [
            pb.RenderItem(style_id=style_id, seed=image_seed(self.order_id, self.render_id, style_id, i, top_up_round))
            for style_id, count in counts.items()
            for i in range(count)
        ]
        return pb.RenderRequest(request_id=request_id, adapter=adapter, subject_phrase=self.subject_phrase, items=items)

    def _look_request(
        self, request_id: str, adapter: pb.AdapterRef, counts: dict[str, int], top_up_round: int
    ) -> pb.RenderRequest:
        """A fixed look (a team's): its prompt, settings and seed schedule, whoever the order is for."""
        look = self.render_spec.look
        prompt = look_prompt(look.prompt, self.subject_phrase)
        items = [
            pb.RenderItem(
                style_id=style_id,
                prompt=prompt,
                negative_prompt=look.negative_prompt,
                seed=look_seed(look.seed_base, style_id, i, top_up_round, self.event_render_id),
            )
            for style_id, count in counts.items()
            for i in range(count)
        ]
        return pb.RenderRequest(
            request_id=request_id,
            adapter=adapter,
            subject_phrase=self.subject_phrase,
            items=items,
            num_inference_steps=look.num_inference_steps,
            guidance_scale=look.guidance_scale,
            sampler=look.sampler,
        )


class RenderDispatcher:
    def __init__(self, config: RendererConfig):
        self.config = config
        self.blobs = open_blob_store(config.shared.blob_url)
        self.publisher = bus.Publisher(config.shared.kafka_bootstrap)
        self.channel = grpc.insecure_channel(
            config.grpc_target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
        self.renderer = pb_grpc.RendererServiceStub(self.channel)
        self.heartbeat = heartbeat_of(config.shared.var_dir, DISPATCHER_PROCESS_NAME)

    def handle(self, event: events_pb2.Event, traceparent: str = "") -> None:
        """Render and store an order's headshots (the replicas themselves evict a deleted order's adapter).

        `traceparent`: the order's trace (the record's headers); the render call and its events carry it on.
        """
        render = OrderRender.from_event(event)
        if render is None:
            return
        with (
            logs.log_context(order_id=render.order_id),
            tracing.span(
                "render", traceparent, attributes={"order.id": render.order_id, "render.id": render.render_id}
            ),
        ):
            self._handle(render)

    def _handle(self, render: OrderRender) -> None:
        try:
            self._handle_render(render)
        except OrderDeleted:
            log.info(
                "order %s was deleted: its render (%s) stopped and nothing of it was kept",
                render.order_id,
                render.render_id,
            )
            self.blobs.delete_prefix(blob_layout.render_prefix(render.order_id, render.render_id))

    def _handle_render(self, render: OrderRender) -> None:
        if self.blobs.is_deleted(render.order_id):
            raise OrderDeleted(render.order_id)
        completed: events_pb2.RenderCompleted | None
        if self.blobs.exists(render.manifest_key):  # redelivered: the images are stored already
            completed = _from_manifest(self.blobs.get(render.manifest_key))
        else:
            completed = self._render(render)
            if completed is None:
                return
            self.blobs.put(render.manifest_key, json_format.MessageToJson(completed).encode())
        completed.render_id = render.event_render_id
        self._publish(render.order_id, render_completed=completed)

    def _render(self, render: OrderRender) -> events_pb2.RenderCompleted | None:
        references = self._selfie_embeddings(render.order_id)
        wanted, overgenerate = render.images_per_style, self.config.overgenerate
        started, requested = time.monotonic(), 0
        pool: list[Scored] = []
        missing = dict.fromkeys(render.style_ids, wanted)
        for top_up_round in range(1 + self.config.top_up_rounds):
            request = render.top_up_request(
                {style_id: candidates_per_style(n, overgenerate) for style_id, n in missing.items()}, top_up_round
            )
            log.info(
                "rendering order %s (%s), round %d: %d images",
                render.order_id,
                render.render_id,
                top_up_round,
                len(request.items),
            )
            scored = self._render_round(render, request, references, pool, requested + len(request.items))
            if scored is None:
                return None
            # Indices run on across rounds: each image keeps its own key and its place in the request order.
            pool += [replace(s, index=requested + s.index) for s in scored]
            requested += len(request.items)
            picked = pick(pool, wanted, self.config.quality_gate)
            short = shortfall(pool, picked, render.style_ids, wanted)
            missing = {s.style_id: s.wanted - s.delivered for s in short}  # the next round renders only these
            if not missing:
                break
        for reason, count in picked.rejected.items():
            IMAGES_REJECTED.labels(reason).inc(count)
        IMAGES_DELIVERED.inc(len(picked.delivered))
        headshots = []
        for kept in picked.delivered:
            response = kept.payload
            key = render.headshot_key(response.style_id, kept.index)
            self.blobs.put(key, response.png)
            headshots.append(
                common_pb2.Headshot(
                    key=key,
                    style_id=response.style_id,
                    seed=response.seed,
                    width=response.width,
                    height=response.height,
                    likeness_score=kept.likeness,
                    quality_score=kept.quality,
                    consistency_score=kept.consistency,
                    gated=picked.gated,
                )
            )
        report = events_pb2.QualityReport(
            generated=picked.generated,
            delivered=len(picked.delivered),
            rejected=picked.rejected,
            gated=picked.gated,
            consistency=picked.consistency,
            shortfall=[
                events_pb2.StyleShortfall(
                    style_id=s.style_id, wanted=s.wanted, delivered=s.delivered, main_reason=s.main_reason
                )
                for s in short
            ],
            top_up_rounds=top_up_round,
        )
        if picked.rejected:
            log.info("order %s: %s not delivered %s", render.order_id, sum(picked.rejected.values()), picked.rejected)
        if short:
            log.warning(
                "order %s (%s) is short after %d top-up rounds: %s",
                render.order_id,
                render.render_id,
                top_up_round,
                {s.style_id: f"{s.delivered}/{s.wanted} ({s.main_reason})" for s in short},
            )
        log.info(
            "order %s (%s): %d headshots stored in %.1fs",
            render.order_id,
            render.render_id,
            len(headshots),
            time.monotonic() - started,
        )
        return events_pb2.RenderCompleted(headshots=headshots, quality=report)

    def _render_round(
        self, render: OrderRender, request: pb.RenderRequest, references: list, pool: list[Scored], total: int
    ) -> list[Scored] | None:
        """Render and score one request's images (each with its index in `request`); None when the render failed
        for good (announced). `total`: the images of every round so far, for progress."""
        scored: list[Scored] = []
        started = time.monotonic()
        responses = self.renderer.Render(
            request, timeout=3600, metadata=tracing.grpc_metadata(tracing.current_traceparent())
        )
        checked_at = time.monotonic()
        try:
            for response in responses:
                if time.monotonic() - checked_at >= DELETION_CHECK_S:  # deleted meanwhile: stop rendering it
                    checked_at = time.monotonic()
                    if self.blobs.is_deleted(render.order_id):
                        responses.cancel()
                        raise OrderDeleted(render.order_id)
                image = Image.open(io.BytesIO(response.png))
                scored.append(score_image(image, references, response.style_id, response.index, response))
                self.heartbeat.beat()  # scoring a large pack takes minutes on a busy CPU: still alive
                done, left = len(pool) + len(scored), len(request.items) - len(scored)
                eta = (time.monotonic() - started) / len(scored) * left
                self._publish(
                    render.order_id,
                    render_progress=events_pb2.RenderProgress(images_done=done, images_total=total, eta_seconds=eta),
                )
        except grpc.RpcError as exc:
            if exc.code() in RENDERER_AWAY | REPLICA_FAILED:
                raise  # the event is not committed and is retried (_handle_with_retry)
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and self.blobs.is_deleted(render.order_id):
                raise OrderDeleted(render.order_id) from None
            log.error("rendering order %s (%s) failed: %s", render.order_id, render.render_id, exc.details())
            self._fail(render, f"rendering failed: {exc.code().name}")
            return None
        return scored

    def _fail(self, render: OrderRender, message: str) -> None:
        failed = events_pb2.RenderFailed(
            reason=events_pb2.FAILURE_REASON_INTERNAL, message=message, render_id=render.event_render_id
        )
        self._publish(render.order_id, render_failed=failed)

    def _selfie_embeddings(self, order_id: str) -> list:
        """The order's selfies' face embeddings (none once the photos are purged: scores are then 0): the ones the
        photo checker stored beside each selfie, and for selfies without one (older orders), their JPEG's."""
        embeddings = []
        for key in filter(blob_layout.is_photo_key, self.blobs.list(blob_layout.photos_prefix(order_id))):
            analysis = photo_analysis.read(self.blobs, key)
            if analysis is not None:
                embeddings.append(np.asarray(analysis.embedding, dtype=np.float32))
            else:
                embeddings.extend(selfie_embeddings([self.blobs.get(key)]))
        return embeddings

    def _publish(self, order_id: str, **payload) -> None:
        event = bus.new_event(order_id, **payload)
        self.publisher.publish(bus.RENDERING_TOPIC, event, traceparent=tracing.current_traceparent())

    def run(self, stop: threading.Event) -> None:
        consumer = bus.make_consumer(
            self.config.shared.kafka_bootstrap,
            self.config.consumer_group,
            [bus.TRAINING_TOPIC, bus.ORDERS_TOPIC],
            max_poll_records=1,
        )
        lag = ConsumerLag(self.config.consumer_group)
        try:
            while not stop.is_set():
                self.heartbeat.beat()
                batches = consumer.poll(timeout_ms=500)
                lag.report(consumer)
                for messages in batches.values():
                    for message in messages:
                        traceparent = tracing.traceparent_from_kafka(message.headers)
                        self._handle_with_retry(bus.decode_event(message.value), traceparent, stop)
                if batches:
                    try:
                        consumer.commit()
                    except (CommitFailedError, RebalanceInProgressError):
                        # The partition moved meanwhile: its new owner gets the event again; handling it again
                        # finds the render stored (its manifest) and only announces it again.
                        log.warning("could not commit: the group is rebalancing")
        finally:
            consumer.close()
            self.publisher.close()
            self.channel.close()

    def _handle_with_retry(self, event, traceparent: str, stop: threading.Event) -> None:
        delay, replica_failures = 1.0, 0
        while not stop.is_set():
            try:
                self.handle(event, traceparent)
                return
            except grpc.RpcError as exc:
                if exc.code() in REPLICA_FAILED:
                    replica_failures += 1
                    render = OrderRender.from_event(event)
                    if replica_failures >= REPLICA_FAILURE_ATTEMPTS and render is not None:
                        self._fail(render, f"rendering failed {replica_failures} times: {exc.code().name}")
                        return
                log.warning(
                    "render of order %s failed (%s); retrying in %.0fs",
                    event.order_id,
                    exc.code().name,
                    delay,
                    extra={"order_id": event.order_id},
                )
                stop.wait(delay)
                self.heartbeat.beat()
                delay = min(delay * 2, 30.0)


def _from_manifest(data: bytes) -> events_pb2.RenderCompleted:
    """A stored render's manifest: the RenderCompleted it announced (older manifests: a list of headshots)."""
    stored = json.loads(data)
    if isinstance(stored, list):
        return events_pb2.RenderCompleted(headshots=[common_pb2.Headshot(**h) for h in stored])
    return json_format.Parse(data, events_pb2.RenderCompleted())


def main() -> None:
    configure_logging(DISPATCHER_PROCESS_NAME)
    configure_tracing(DISPATCHER_PROCESS_NAME)
    config = load()
    stop = stop_on_signals()
    serve_metrics()
    bus.wait_for_broker(config.shared.kafka_bootstrap, timeout_s=60)
    RenderDispatcher(config).run(stop)


if __name__ == "__main__":
    main()
