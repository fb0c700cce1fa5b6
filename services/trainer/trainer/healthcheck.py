"""`python -m trainer.healthcheck`: exit 0 while the worker's loop is alive (liveness probe)."""

import sys
from pathlib import Path

from headshots_common.process import Heartbeat
from trainer.config import HEARTBEAT_FILE_NAME, load

if __name__ == "__main__":
    sys.exit(0 if Heartbeat(Path(load().shared.var_dir) / HEARTBEAT_FILE_NAME).is_fresh() else 1)
