"""`python -m trainer`: run the trainer workers (one per device) until SIGTERM/SIGINT.

Also serves TrainerService over gRPC (HEADSHOTS_TRAINER_GRPC_PORT) and Prometheus metrics
(HEADSHOTS_METRICS_PORT) when their ports are set; traces by OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is.
"""

import logging
import sys
import threading

import torch

from headshots_common import bus
from headshots_common.basemodel import BaseModelMissing, resolve_base_model
from headshots_common.blobstore import open_blob_store
from headshots_common.lifecycle import stop_on_signals
from headshots_common.logs import configure_logging
from headshots_common.metrics import serve_metrics
from headshots_common.tracing import configure_tracing
from trainer import grpc_service
from trainer.config import load
from trainer.training import pick_device
from trainer.training_jobs import TrainingJobStore
from trainer.worker import TrainerWorker

log = logging.getLogger("trainer")


def worker_device(setting: str, index: int) -> torch.device:
    """Worker i gets GPU i (modulo the GPUs present): one job per GPU."""
    device = pick_device(setting)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", index % torch.cuda.device_count())
    return device


def main() -> None:
    config = load()
    configure_logging(config.process_name, ml_libraries=True)
    configure_tracing(config.process_name)
    try:
        base_model = resolve_base_model(config.shared.base_model)
    except BaseModelMissing as exc:
        sys.exit(f"trainer: {exc}")  # exit status 1 with the reason, before any work is taken
    stop = stop_on_signals()
    bus.wait_for_broker(config.shared.kafka_bootstrap, timeout_s=60)
    blobs = open_blob_store(config.shared.blob_url)
    publisher = bus.Publisher(config.shared.kafka_bootstrap)
    workers = [
        TrainerWorker(config, blobs, publisher, base_model, worker_device(config.device, i), stop)
        for i in range(max(1, config.workers))
    ]
    server = grpc_service.serve(TrainingJobStore(blobs), publisher, config.bind_host, config.grpc_port)
    serve_metrics()
    crashed = []

    def run(worker: TrainerWorker) -> None:
        try:
            worker.run()
        except BaseException:
            log.exception("a trainer worker crashed; stopping the process")
            crashed.append(worker)
            stop.set()

    threads = [threading.Thread(target=run, args=(w,), name=f"worker-{i}") for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        if server:
            server.stop(grace=2)
        publisher.close()
    if crashed:
        sys.exit(1)


if __name__ == "__main__":
    main()
