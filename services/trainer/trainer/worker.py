"""Kafka worker: consumes OrderSubmitted events and runs each order's job, one at a time, on its torch thread.

A job can outlast the consumer's max poll interval, so it runs on the worker's torch thread (trainer.threads)
while the consumer keeps polling with its partitions paused (staying in the group without fetching more work).
The offset is committed only once the job reached a published outcome (trainer.orders); a worker stopping
mid-job leaves it uncommitted, so the next one resumes the job from its checkpoint.

A job that makes no progress for HEADSHOTS_TRAIN_STALL_S (a hung step) has its lease given up by its lease keeper;
the polling loop then stops beating and raises, so the process exits, to be restarted.

The other concerns have rooms of their own: the map is in the package's docstring (trainer/__init__.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from kafka.errors import CommitFailedError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata

from headshots.v1 import events_pb2
from headshots_common import bus, tracing
from headshots_common.basemodel import base_model_hash
from headshots_common.blobstore import BlobStore
from headshots_common.lifecycle import heartbeat_of
from headshots_common.metrics import ConsumerLag
from trainer import metrics
from trainer.config import TrainerConfig
from trainer.orders import OrderHandler, WorkerStopping
from trainer.threads import TorchThread, torch_threads
from trainer.training import TrainingEngine, compile_by_default, load_pipeline
from trainer.training_jobs import TrainingJobStore
from trainer.training_run import JobTraining

log = logging.getLogger(__name__)


class JobStalled(RuntimeError):
    """The job made no progress for the stall window; its lease is given up and the process must restart."""


class TrainerWorker:
    def __init__(
        self,
        config: TrainerConfig,
        blobs: BlobStore,
        publisher: bus.Publisher,
        base_model: str,
        device,
        stop: threading.Event,
        worker_id: str = "",
    ):
        self.config = config
        self.device = device
        self.stop = stop
        self.base_model = base_model
        # Names the lease holder: unique per process and worker, so a restarted process never mistakes a
        # dead predecessor's lease for its own.
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self.torch = TorchThread(torch_threads(config.threads), name=f"torch-{self.worker_id}")
        compile = compile_by_default(device) if config.compile is None else config.compile
        self.engine = self.torch.call(lambda: TrainingEngine(load_pipeline(base_model, device), compile=compile))
        jobs = TrainingJobStore(blobs, lease_s=config.lease_s)
        training = JobTraining(config, blobs, jobs, self.engine, base_model, base_model_hash(base_model))
        self.orders = OrderHandler(config, blobs, jobs, publisher, training, stop, self.worker_id)
        self.heartbeat = heartbeat_of(config.shared.var_dir, config.process_name)
        self.rebalance_listener = metrics.RevocationCounter()

    def handle(self, event: events_pb2.Event, traceparent: str = "") -> None:
        """Bring one order's job to a published outcome, on this thread (the torch thread runs it for `run`)."""
        self.orders.handle(event, traceparent)
        if self.device.type == "cuda":
            import torch

            torch.cuda.empty_cache()  # give the finished (or abandoned) job's memory back to the GPU

    # -- the consumer loop -------------------------------------------------------------------------------------
    def run(self) -> None:
        consumer = bus.make_consumer(
            self.config.shared.kafka_bootstrap,
            self.config.consumer_group,
            [bus.ORDERS_TOPIC],
            listener=self.rebalance_listener,
            max_poll_records=1,
            max_poll_interval_ms=self.config.max_poll_interval_ms,
        )
        log.info(
            "trainer worker ready on %s (base model %s, %d torch threads, compile %s)",
            self.device,
            self.base_model,
            self.torch.threads,
            "on" if self.engine.compile else "off",
        )
        lag = ConsumerLag(self.config.consumer_group)
        try:
            while not self.stop.is_set():
                self.heartbeat.beat()
                for partition, messages in consumer.poll(timeout_ms=500).items():
                    for message in messages:
                        event, traceparent = (
                            bus.decode_event(message.value),
                            tracing.traceparent_from_kafka(message.headers),
                        )
                        if not self._run_job_while_polling(consumer, event, traceparent, lag):
                            return  # shutting down mid-job: uncommitted, so the next worker resumes it
                        try:
                            consumer.commit({partition: OffsetAndMetadata(message.offset + 1, "", -1)})
                        except (CommitFailedError, RebalanceInProgressError):  # moved: its new owner sees it done
                            log.warning(
                                "could not commit order %s: partition reassigned",
                                event.order_id,
                                extra={"order_id": event.order_id},
                            )
        finally:
            consumer.close()
            self.torch.close()

    def _stalled(self) -> bool:
        """The running job made no progress for the stall window (in any phase); while it trains, only once its
        lease keeper has handed the job over, so that the process never leaves still holding the lease."""
        if self.orders.progress.idle_s() <= self.config.stall_s:
            return False
        keeper = self.orders.keeper
        return keeper is None or keeper.stalled or not keeper.running

    def _run_job_while_polling(self, consumer, event: events_pb2.Event, traceparent: str, lag: ConsumerLag) -> bool:
        """Run the job on the torch thread, polling meanwhile; False when the worker is stopping before it finished.

        An unexpected error (the blob store or the broker unreachable) is raised here: the process exits with
        the message uncommitted, and a restarted worker picks the job up again.
        """

        def job() -> bool:
            try:
                self.handle(event, traceparent)
                return True
            except WorkerStopping:
                log.info(
                    "stopping: order %s is checkpointed and will be resumed",
                    event.order_id,
                    extra={"order_id": event.order_id},
                )
                return False

        self.orders.progress.mark()
        running = self.torch.submit(job)
        while not running.done():
            # Paused again on every turn: a rebalance hands back partitions unpaused.
            consumer.pause(*consumer.assignment())
            for partition, records in consumer.poll(timeout_ms=500).items():
                consumer.seek(partition, records[0].offset)  # never drop a record fetched while busy
            lag.report(consumer)
            if self._stalled():  # no beat: the process leaves, to be restarted
                raise JobStalled(
                    f"order {event.order_id} stalled: no progress for {self.config.stall_s:.0f} s; its lease is "
                    "given up and another worker resumes it from its checkpoint"
                )
            self.heartbeat.beat()
            try:
                running.result(timeout=0.1)
            except TimeoutError:
                pass
            except BaseException:
                break
        consumer.resume(*consumer.paused())
        error = running.exception()
        if error is not None:
            raise RuntimeError(f"order {event.order_id}: the job could not run") from error
        return running.result()
