"""`python -m renderer.healthcheck`: exit 0 while the dispatcher's loop is alive (liveness probe)."""

import sys
from pathlib import Path

from headshots_common.process import Heartbeat
from renderer.config import DISPATCHER_HEARTBEAT_FILE_NAME, load

if __name__ == "__main__":
    sys.exit(0 if Heartbeat(Path(load().shared.var_dir) / DISPATCHER_HEARTBEAT_FILE_NAME).is_fresh() else 1)
