"""`python -m trainer.healthcheck`: exit 0 while the worker's loop is alive (liveness probe)."""

import sys

from headshots_common.lifecycle import heartbeat_of
from trainer.config import load

if __name__ == "__main__":
    config = load()
    sys.exit(0 if heartbeat_of(config.shared.var_dir, config.process_name).is_fresh() else 1)
