"""`python -m trainer.healthcheck`: exit 0 while the worker's loop is alive (liveness probe)."""

import sys
import time
from pathlib import Path

from trainer.config import HEARTBEAT_FILE_NAME, load

MAX_AGE_S = 60


def main() -> int:
    path = Path(load().shared.var_dir) / HEARTBEAT_FILE_NAME
    return 0 if path.exists() and time.time() - path.stat().st_mtime < MAX_AGE_S else 1


if __name__ == "__main__":
    sys.exit(main())
