"""`python -m trainer`: run one trainer worker until SIGTERM/SIGINT."""

from headshots_common import bus
from headshots_common.process import configure_logging, stop_on_signals
from trainer.config import load
from trainer.worker import TrainerWorker


def main() -> None:
    configure_logging()
    config = load()
    stop = stop_on_signals()
    bus.wait_for_broker(config.shared.kafka_bootstrap, timeout_s=60)
    TrainerWorker(config).run(stop)


if __name__ == "__main__":
    main()
