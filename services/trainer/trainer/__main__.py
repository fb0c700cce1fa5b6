"""`python -m trainer`: run one trainer worker until SIGTERM/SIGINT."""

import logging
import signal
import threading

from headshots_common import bus
from trainer.config import load
from trainer.worker import TrainerWorker


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    config = load()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    bus.wait_for_broker(config.shared.kafka_bootstrap, timeout_s=60)
    TrainerWorker(config).run(stop)


if __name__ == "__main__":
    main()
