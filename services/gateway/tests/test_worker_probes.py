"""The gateway worker's probes follow its loops: ready while they beat, not ready once they stop, and alive
(liveness) until they have been stopped for a minute. Run against a real `manage.py run_worker` process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .support import database_url

GATEWAY = Path(__file__).resolve().parents[1]
READY_MAX_AGE_S = 3


def _probe(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "worker_healthcheck", *args],
        cwd=GATEWAY,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _wait_for(check, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_readiness_fails_when_the_worker_loops_stop(transactional_db, kafka_bootstrap, tmp_path):
    env = os.environ | {
        "DATABASE_URL": database_url(),
        "HEADSHOTS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "HEADSHOTS_VAR_DIR": str(tmp_path),
    }
    ready = ("--max-age", str(READY_MAX_AGE_S))
    assert _probe(env, *ready).returncode == 1, "ready before the worker ever ran"
    with (tmp_path / "worker.log").open("w") as log:
        worker = subprocess.Popen([sys.executable, "manage.py", "run_worker"], cwd=GATEWAY, env=env, stderr=log)
    try:
        assert _wait_for(lambda: _probe(env, *ready).returncode == 0, 90), "the worker never became ready"
        worker.send_signal(signal.SIGSTOP)  # every loop stops, as in a hung process
        not_ready = _wait_for(lambda: _probe(env, *ready).returncode == 1, 30)
        stopped = _probe(env, *ready)
        assert not_ready and "last beat" in stopped.stdout
        assert _probe(env).returncode == 0, "liveness gives a stopped worker a minute before it is restarted"
        worker.send_signal(signal.SIGCONT)
        assert _wait_for(lambda: _probe(env, *ready).returncode == 0, 30), "ready again once the loops beat"
    finally:
        worker.send_signal(signal.SIGCONT)
        worker.terminate()
        worker.wait(timeout=60)
