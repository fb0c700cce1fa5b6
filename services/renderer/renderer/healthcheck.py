"""`python -m renderer.healthcheck`: exit 0 while the dispatcher's loop is alive (liveness probe)."""

import sys
import time
from pathlib import Path

from renderer.config import DISPATCHER_HEARTBEAT_FILE_NAME, load

MAX_AGE_S = 60


def main() -> int:
    path = Path(load().shared.var_dir) / DISPATCHER_HEARTBEAT_FILE_NAME
    return 0 if path.exists() and time.time() - path.stat().st_mtime < MAX_AGE_S else 1


if __name__ == "__main__":
    sys.exit(main())
