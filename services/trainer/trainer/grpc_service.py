"""TrainerService over gRPC: submit, inspect, cancel and watch trainings (long-running operations).

Submitting publishes the same OrderSubmitted event the gateway does, so a gRPC job goes through the durable
Kafka queue and any worker of the group trains it. State lives in the blob store (trainer.training_jobs), so every
trainer process answers for every job.
"""

from __future__ import annotations

import logging
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from headshots.v1 import events_pb2, trainer_service_pb2 as pb, trainer_service_pb2_grpc as pb_grpc
from headshots_common import bus
from headshots_common.metrics import GrpcServerMetrics
from trainer.training_jobs import TrainingJob, TrainingJobStore, order_id_from_name

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.5


class TrainerService(pb_grpc.TrainerServiceServicer):
    def __init__(self, jobs: TrainingJobStore, publisher: bus.Publisher):
        self.jobs = jobs
        self.publisher = publisher

    def SubmitTraining(
        self, request: pb.SubmitTrainingRequest, context: grpc.ServicerContext
    ) -> pb.SubmitTrainingResponse:
        if not request.order_id or not request.photo_keys:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "order_id and photo_keys are required")
        if request.request_id:
            known_order = self.jobs.order_for_request(request.request_id)
            if known_order and known_order != request.order_id:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, "request_id was used for another order")
        job = self.jobs.load_or_create(request.order_id, request.request_id)
        if job.training.state == pb.TRAINING_STATE_QUEUED:
            # Published again on a retry while still queued: a duplicate message is a no-op for the worker.
            submitted = events_pb2.OrderSubmitted(
                tenant_id=request.tenant_id,
                photo_keys=request.photo_keys,
                subject_class=request.subject_class,
                training_profile=request.training_profile,
                render_spec=request.render_spec,
            )
            try:
                self.publisher.publish(bus.ORDERS_TOPIC, bus.new_event(request.order_id, order_submitted=submitted))
            except Exception as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"the job queue is unavailable: {exc}")
        if request.request_id:
            self.jobs.remember_request(request.request_id, request.order_id)
        return pb.SubmitTrainingResponse(training=job.training)

    def GetTraining(self, request: pb.GetTrainingRequest, context: grpc.ServicerContext) -> pb.GetTrainingResponse:
        return pb.GetTrainingResponse(training=self._job(request.name, context).training)

    def CancelTraining(
        self, request: pb.CancelTrainingRequest, context: grpc.ServicerContext
    ) -> pb.CancelTrainingResponse:
        job = self._job(request.name, context)
        if not job.done:
            self.jobs.request_cancel(
                job.order_id
            )  # the running worker stops within a second; a queued job never starts
        return pb.CancelTrainingResponse(training=job.training)

    def WatchTraining(self, request: pb.WatchTrainingRequest, context: grpc.ServicerContext):
        last = None
        while context.is_active():
            training = self._job(request.name, context).training
            # update_time changes on every write; compare the rest.
            snapshot = pb.Training(
                name=training.name,
                state=training.state,
                done=training.done,
                progress=training.progress,
                result=training.result,
                error=training.error,
            ).SerializeToString(deterministic=True)
            if snapshot != last:
                last = snapshot
                yield pb.WatchTrainingResponse(training=training)
            if training.done:
                return
            time.sleep(WATCH_INTERVAL_S)

    def _job(self, name: str, context: grpc.ServicerContext) -> TrainingJob:
        order_id = order_id_from_name(name)
        job = self.jobs.load(order_id) if order_id else None
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no training named {name!r}")
        return job


def serve(jobs: TrainingJobStore, publisher: bus.Publisher, host: str, port: int) -> grpc.Server | None:
    """Start TrainerService on host:port; None when port is 0 or taken (the Kafka path works without it)."""
    if not port:
        return None
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), interceptors=[GrpcServerMetrics()])
    pb_grpc.add_TrainerServiceServicer_to_server(TrainerService(jobs, publisher), server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("headshots.v1.TrainerService", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        log.error(
            "TrainerService NOT served: cannot listen on %s:%d (taken?); set HEADSHOTS_TRAINER_GRPC_PORT", host, port
        )
        return None
    server.start()
    log.info("TrainerService listening on %s:%d", host, port)
    return server
