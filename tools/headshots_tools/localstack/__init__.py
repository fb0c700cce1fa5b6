"""The local stack: every service on 127.0.0.1, as processes or as containers of its image, started and stopped
together.

Used by `headshots up|down|demo` and by the end-to-end tests, so both run the exact same services. One module
per concern:
- services: the ports and the service list's parts (one list for processes and containers);
- stack: the Stack (its configuration, its services, `up` and `down`) and its state file;
- processes: services as host processes, each in a POSIX session of its own;
- containers: services as containers of their images (podman), as the chart runs them;
- readiness: the probes `up` waits on;
- prometheus: the Prometheus configuration for `up --prometheus`;
- databases: scratch PostgreSQL databases for stacks under test.
"""

from headshots_tools.localstack.containers import Containers
from headshots_tools.localstack.databases import scratch_database
from headshots_tools.localstack.processes import Processes, session_members, signal_session
from headshots_tools.localstack.prometheus import PROMETHEUS_BINARY
from headshots_tools.localstack.readiness import grpc_serving, http_ok, renderer_ready
from headshots_tools.localstack.services import (
    GATEWAY_DIR,
    PYTHON,
    REPO_ROOT,
    Ports,
    Service,
    broker_command,
    gateway_web_command,
)
from headshots_tools.localstack.stack import STATE_FILE, SUPERVISOR, Stack, StackError

__all__ = [
    "GATEWAY_DIR",
    "PROMETHEUS_BINARY",
    "PYTHON",
    "REPO_ROOT",
    "STATE_FILE",
    "SUPERVISOR",
    "Containers",
    "Ports",
    "Processes",
    "Service",
    "Stack",
    "StackError",
    "broker_command",
    "gateway_web_command",
    "grpc_serving",
    "http_ok",
    "renderer_ready",
    "scratch_database",
    "session_members",
    "signal_session",
]
