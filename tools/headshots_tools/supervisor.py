"""`python -m headshots_tools.supervisor VAR_DIR`: restart any local-stack process that dies, as Kubernetes would.

`Stack.up` starts it last and `Stack.down` stops it first. Every second it looks at each service's session;
an empty one (the process crashed, or a chaos run killed it) is started again, after a back-off that
doubles while the service keeps dying (1 s up to 30 s). A worker whose loop stopped beating for a minute
(stuck, not dead) is killed first, as its liveness probe would have it. A restarted broker starts empty and
gets its topics again. Restarts are logged, and counted per service in VAR/run/restarts.json.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from headshots_common.lifecycle import LIVENESS_MAX_AGE_S, heartbeat_of, stop_on_signals
from headshots_common.logs import configure_logging
from headshots_tools.localstack import Service, Stack, session_members

log = logging.getLogger("supervisor")
MAX_BACKOFF_S = 30.0
# As the chart's liveness probes, a heartbeat older than LIVENESS_MAX_AGE_S fails; a process gets as long again
# to start.


def supervise(stack: Stack, stop) -> None:
    restarts: dict[str, int] = {}
    next_try: dict[str, float] = {}
    backoff: dict[str, float] = {}
    while not stop.wait(1.0):
        for service in stack.services():
            pidfile = stack.run_dir / f"{service.name}.pid"
            if not pidfile.exists():
                continue  # not started by `up`
            if session_members(int(pidfile.read_text())):
                if _stuck(stack, service, pidfile):
                    stack.kill(service.name)  # restarted on a later turn, like any dead one
                continue
            now = time.monotonic()
            if now < next_try.get(service.name, 0.0) or stop.is_set():
                continue
            delay = backoff.get(service.name, 1.0)
            backoff[service.name], next_try[service.name] = min(MAX_BACKOFF_S, delay * 2), now + delay
            log.warning(
                "%s is not running: starting it again (restart %d)", service.name, restarts.get(service.name, 0) + 1
            )
            stack.spawn(service)
            restarts[service.name] = restarts.get(service.name, 0) + 1
            (stack.run_dir / "restarts.json").write_text(json.dumps(restarts))
            if service.name == "broker":
                try:
                    stack.prepare_broker()
                except Exception:
                    log.exception("the restarted broker did not come up")
        for name in list(backoff):  # a service that stayed up for a while is healthy again
            if time.monotonic() - next_try.get(name, 0.0) > 60:
                backoff.pop(name)


def _stuck(stack: Stack, service: Service, pidfile: Path) -> bool:
    """A worker past its start-up whose loop has not beaten for LIVENESS_MAX_AGE_S."""
    if service.heartbeat is None or time.time() - pidfile.stat().st_mtime < 2 * LIVENESS_MAX_AGE_S:
        return False
    heartbeat = heartbeat_of(stack.var_dir, service.heartbeat)
    if heartbeat.is_fresh(LIVENESS_MAX_AGE_S):
        return False
    log.warning("%s has not beaten for %.0f s: killing it", service.name, LIVENESS_MAX_AGE_S)
    return True


def main(argv: list[str] | None = None) -> int:
    configure_logging("supervisor")
    args = argv if argv is not None else sys.argv[1:]
    stack = Stack.from_state(Path(args[0]))
    stop = stop_on_signals()
    log.info("supervising the local stack under %s", stack.var_dir)
    supervise(stack, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
