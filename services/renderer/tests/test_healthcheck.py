"""The dispatcher's probes (`python -m renderer.healthcheck`) read its loop's heartbeat: readiness with a short
age, liveness with a minute."""

import os
import subprocess
import sys
import time

from headshots_common.lifecycle import heartbeat_of
from renderer.config import DISPATCHER_PROCESS_NAME


def _probe(var_dir, *args: str) -> int:
    env = os.environ | {"HEADSHOTS_VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "-m", "renderer.healthcheck", *args], env=env, capture_output=True, timeout=60
    ).returncode


def test_probes_follow_the_dispatchers_heartbeat(tmp_path):
    ready = ("--max-age", "45")
    assert _probe(tmp_path, *ready) == 1 and _probe(tmp_path) == 1, "no beat yet: neither started nor alive"
    heartbeat = heartbeat_of(tmp_path, DISPATCHER_PROCESS_NAME)
    heartbeat.beat()
    assert _probe(tmp_path, *ready) == 0 and _probe(tmp_path) == 0
    stopped_at = time.time() - 50  # the loop stopped 50 s ago
    os.utime(heartbeat.path, (stopped_at, stopped_at))
    assert _probe(tmp_path, *ready) == 1, "not ready once the loop stopped beating"
    assert _probe(tmp_path) == 0, "alive for a minute: a long render is not a dead process"
    os.utime(heartbeat.path, (stopped_at - 20, stopped_at - 20))
    assert _probe(tmp_path) == 1, "restarted after a minute without a beat"
