"""`python -m renderer.healthcheck`: exit 0 while the dispatcher's loop is alive (liveness probe)."""

import sys

from headshots_common.lifecycle import heartbeat_of
from renderer.config import DISPATCHER_PROCESS_NAME, load

if __name__ == "__main__":
    sys.exit(0 if heartbeat_of(load().shared.var_dir, DISPATCHER_PROCESS_NAME).is_fresh() else 1)
