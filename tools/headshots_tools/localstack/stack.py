"""The local stack: its configuration, its service list, and `up`/`down` through processes or containers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from headshots_tools.localstack.containers import Containers
from headshots_tools.localstack.processes import Processes
from headshots_tools.localstack.prometheus import METRICS_BASE_PORT, PROMETHEUS_BINARY, prometheus_config
from headshots_tools.localstack.readiness import beating, grpc_serving, http_ok, renderer_ready
from headshots_tools.localstack.services import (
    GATEWAY_DIR,
    PYTHON,
    REPO_ROOT,
    Ports,
    Service,
    broker_command,
    gateway_web_command,
)
from headshots_tools.ports import free_port, port_in_use

SUPERVISOR = "supervisor"  # the process that restarts the others (its pid file, its log)
STATE_FILE = "stack.json"  # how `up` configured the stack, under VAR/run/


class StackError(RuntimeError):
    pass


@dataclass
class Stack:
    var_dir: Path
    ports: Ports = field(default_factory=Ports)
    base_model: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    trainers: int = 1  # trainer worker processes, one consumer group: "trainer", "trainer-2", ...
    checkers: int = 2  # photo checker processes, one consumer group: "photo-checker", "photo-checker-2", ...
    renderer_replicas: int = 1  # Ray Serve replicas of the renderer, each with its own model and caches
    supervise: bool = True  # restart any process that dies, as Kubernetes would (headshots_tools.supervisor)
    # Each process's Prometheus endpoint (HEADSHOTS_METRICS_PORT): 9400 and up for a developer's stack.
    metrics_ports: dict[str, int] = field(default_factory=dict)
    prometheus: bool = False  # also run Prometheus (Debian's, `make prometheus`), scraping every process
    # Run each service as a container of its image (podman; `make images` builds them), not as a process.
    containers: bool = False

    def __post_init__(self):
        self.var_dir = Path(self.var_dir).resolve()
        self.logs_dir = self.var_dir / "logs"
        self.run_dir = self.var_dir / "run"
        # Ray's unix socket paths must stay under 108 bytes, so its session files get a short path of their own.
        self.ray_dir = Path(tempfile.gettempdir()) / f"hsray-{hashlib.sha1(str(self.var_dir).encode()).hexdigest()[:8]}"
        if not self.metrics_ports:
            names = [s.name for s in self.services() if s.name not in ("broker", "prometheus")]
            default = self.ports == Ports()
            self.metrics_ports = {n: METRICS_BASE_PORT + i if default else free_port() for i, n in enumerate(names)}
        self.processes = Processes(self.run_dir, self.logs_dir)
        self.container_runner = Containers(self.var_dir, self.run_dir, self.logs_dir)
        self._started: dict[str, subprocess.Popen] = {}  # the processes this object started, for their exit codes

    # -- configuration every service shares ------------------------------------------------------------------
    @property
    def settings(self) -> dict[str, str]:
        """The stack's own configuration: what a container gets (a process gets it on top of this environment)."""
        settings = {
            "HEADSHOTS_VAR_DIR": str(self.var_dir),
            "HEADSHOTS_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.ports.kafka}",
            "HEADSHOTS_BLOB_URL": f"file://{self.var_dir / 'blobs'}",
            "HEADSHOTS_PARTNER_GRPC_PORT": str(self.ports.partner_grpc),
            "HEADSHOTS_PUBLIC_URL": self.gateway_url,  # links in e-mails
            "HEADSHOTS_UPLOAD_URL": f"http://127.0.0.1:{self.ports.gateway_uploads}",  # direct uploads
            "HEADSHOTS_RENDERER_GRPC_PORT": str(self.ports.renderer_grpc),
            "HEADSHOTS_RENDERER_HTTP_PORT": str(self.ports.renderer_http),
            "HEADSHOTS_TRAINER_GRPC_PORT": str(self.ports.trainer_grpc),
            "PYTHONUNBUFFERED": "1",
            "RAY_TMPDIR": str(self.ray_dir),
            # A laptop's partner endpoints listen on localhost; in the cluster webhooks reach public addresses only.
            "HEADSHOTS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
            # A laptop's processes come back within seconds (the supervisor): recover stalled work and leases sooner.
            "HEADSHOTS_STALL_S": "60",
            "HEADSHOTS_TRAINER_LEASE_S": "10",
            "HEADSHOTS_BASE_MODEL": self.base_model or str(self.tiny_model_path),
        }
        # What this environment sets for the services, a container gets too (a process inherits it anyway).
        forwarded = {k: v for k, v in os.environ.items() if k.startswith("HEADSHOTS_") or k == "DATABASE_URL"}
        settings = {**forwarded, **settings}
        # What this environment sets for these defaults wins, as before; extra_env wins over everything.
        for key in ("HEADSHOTS_WEBHOOK_ALLOW_NETWORKS", "HEADSHOTS_STALL_S", "HEADSHOTS_TRAINER_LEASE_S"):
            settings[key] = os.environ.get(key, settings[key])
        if not self.base_model and "HEADSHOTS_BASE_MODEL" in os.environ:
            settings["HEADSHOTS_BASE_MODEL"] = os.environ["HEADSHOTS_BASE_MODEL"]
        if self.renderer_replicas > 1:
            settings["HEADSHOTS_RENDER_REPLICAS"] = str(self.renderer_replicas)
            settings["HEADSHOTS_RENDER_REPLICA_CPUS"] = os.environ.get(
                "HEADSHOTS_RENDER_REPLICA_CPUS",
                f"{1 / self.renderer_replicas:.2f}",  # they share a CPU
            )
        settings.update(self.extra_env)
        return settings

    @property
    def env(self) -> dict[str, str]:
        """The environment of a process of the stack: this one's, with the stack's configuration on top."""
        return {**os.environ, **self.settings}

    @property
    def tiny_model_path(self) -> Path:
        """Where the stack keeps the tiny offline model it uses unless HEADSHOTS_BASE_MODEL names another."""
        return self.var_dir / "models" / "tiny-sd15"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway_http}"

    # -- the services ----------------------------------------------------------------------------------------
    def services(self) -> list[Service]:
        p = self.ports
        return [
            Service("broker", broker_command(p.kafka), ready=lambda: port_in_use(p.kafka), ports=(p.kafka,)),
            # Before the web: its readiness waits for a worker that ran against this database before.
            Service(
                "gateway-worker",
                [PYTHON, "manage.py", "run_worker"],
                ready=lambda: self._beating("gateway-worker"),
                image="gateway",
                cwd=GATEWAY_DIR,
                heartbeat="gateway-worker",
            ),
            *self._checker_services(),
            Service(
                "gateway-uploads",
                gateway_web_command(p.gateway_uploads, uploads=True, python=PYTHON),
                ready=lambda: http_ok(f"http://127.0.0.1:{p.gateway_uploads}/healthz"),
                image="gateway",
                cwd=GATEWAY_DIR,
                ports=(p.gateway_uploads,),
            ),
            Service(
                "gateway-web",
                gateway_web_command(p.gateway_http, python=PYTHON),
                ready=lambda: http_ok(f"{self.gateway_url}/readyz"),
                image="gateway",
                cwd=GATEWAY_DIR,
                ports=(p.gateway_http,),
            ),
            Service(
                "gateway-grpc",
                [PYTHON, "manage.py", "run_partner_grpc", "--port", str(p.partner_grpc)],
                ready=lambda: grpc_serving(f"127.0.0.1:{p.partner_grpc}"),
                image="gateway",
                cwd=GATEWAY_DIR,
                ports=(p.partner_grpc,),
            ),
            *self._trainer_services(),
            Service(
                "renderer",
                [PYTHON, "-m", "renderer.serve"],
                ready=lambda: renderer_ready(f"127.0.0.1:{p.renderer_grpc}"),
                image="renderer",
                ports=(p.renderer_grpc, p.renderer_http),
            ),
            Service(
                "renderer-dispatcher",
                [PYTHON, "-m", "renderer.dispatcher"],
                ready=lambda: self._beating("renderer-dispatcher"),
                image="renderer",
                heartbeat="renderer-dispatcher",
            ),
            *([self._prometheus_service()] if self.prometheus else []),
        ]

    def _prometheus_service(self) -> Service:
        port = self.ports.prometheus
        argv = [
            PROMETHEUS_BINARY,
            f"--config.file={self.run_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.var_dir / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        return Service("prometheus", argv, ready=lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"), ports=(port,))

    def prometheus_config(self) -> str:
        """A Prometheus configuration scraping every process of this stack (job = process name)."""
        return prometheus_config(self.scrape_targets())

    def _trainer_services(self) -> list[Service]:
        """The first trainer also serves TrainerService; every one has a heartbeat of its own."""
        grpc_target = f"127.0.0.1:{self.ports.trainer_grpc}"

        def ready(name: str, serves_grpc: bool) -> Callable[[], bool]:
            return lambda: self._beating(name) and (not serves_grpc or grpc_serving(grpc_target))

        services = []
        for n in range(1, self.trainers + 1):
            name = "trainer" if n == 1 else f"trainer-{n}"
            env = {"HEADSHOTS_TRAINER_NAME": name} | ({} if n == 1 else {"HEADSHOTS_TRAINER_GRPC_PORT": "0"})
            ports = (self.ports.trainer_grpc,) if n == 1 else ()
            services.append(
                Service(
                    name,
                    [PYTHON, "-m", "trainer"],
                    ready(name, n == 1),
                    image="trainer",
                    ports=ports,
                    env=env,
                    heartbeat=name,
                )
            )
        return services

    def _checker_services(self) -> list[Service]:
        """Photo checkers, each with a heartbeat of its own; they lower their own CPU priority below the web's."""
        services = []
        for n in range(1, self.checkers + 1):
            name = "photo-checker" if n == 1 else f"photo-checker-{n}"
            argv = [PYTHON, "manage.py", "run_photo_checker", "--name", name]
            services.append(
                Service(name, argv, ready=self._beat_of(name), image="gateway", cwd=GATEWAY_DIR, heartbeat=name)
            )
        return services

    def _beat_of(self, name: str) -> Callable[[], bool]:
        return lambda: self._beating(name)

    def service(self, name: str) -> Service:
        return next(s for s in self.services() if s.name == name)

    def _beating(self, process_name: str) -> bool:
        return beating(self.var_dir, process_name)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def up(self, report: Callable[[str, int, int], None] = lambda *_: None, timeout_s: float = 300) -> None:
        """Start everything and wait until each service is ready; on any failure stop what was started."""
        services = self.services()
        taken = [(s.name, port) for s in services for port in s.ports if port_in_use(port)]
        if taken:
            names = ", ".join(f"{port} (for {name})" for name, port in taken)
            raise StackError(f"port {names} is already in use: run `make down`, or stop what listens there")
        for d in (self.logs_dir, self.run_dir, self.ray_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.save_state()
        total = len(services) + 2
        try:
            report("preparing base model and database", 0, total)
            self._prepare()
            for i, service in enumerate(services, start=1):
                report(f"starting {service.name}", i, total)
                self.spawn(service)
                self._wait_ready(service, timeout_s)
                if service.name == "broker":
                    self.prepare_broker()
            if self.supervise and not self.containers:
                supervisor = [sys.executable, "-m", "headshots_tools.supervisor", str(self.var_dir)]
                self.processes.spawn(SUPERVISOR, supervisor, REPO_ROOT, self.env)
            report("all services ready", total, total)
        except BaseException:
            self.down()
            raise

    def prepare_broker(self) -> None:
        """Wait for the broker and create the topics (a restarted local broker starts empty)."""
        from headshots_common import bus

        bus.wait_for_broker(self.settings["HEADSHOTS_KAFKA_BOOTSTRAP"])
        bus.ensure_topics(self.settings["HEADSHOTS_KAFKA_BOOTSTRAP"])

    # -- the stack's configuration, for the supervisor and later commands ------------------------------------
    def save_state(self) -> None:
        state = {
            "ports": dataclasses.asdict(self.ports),
            "base_model": self.base_model,
            "extra_env": self.extra_env,
            "trainers": self.trainers,
            "checkers": self.checkers,
            "renderer_replicas": self.renderer_replicas,
            "supervise": self.supervise,
            "metrics_ports": self.metrics_ports,
            "prometheus": self.prometheus,
            "containers": self.containers,
        }
        (self.run_dir / STATE_FILE).write_text(json.dumps(state, indent=1))

    @classmethod
    def from_state(cls, var_dir: str | os.PathLike) -> Stack:
        """The stack `up` started under `var_dir`, as it was configured."""
        state = json.loads((Path(var_dir).resolve() / "run" / STATE_FILE).read_text())
        return cls(var_dir=Path(var_dir), ports=Ports(**state.pop("ports")), **state)

    def _prepare(self) -> None:
        """The base model (the stack's own tiny one is generated on first use) and the database schema."""
        from headshots_common.basemodel import resolve_base_model

        base_model = self.settings["HEADSHOTS_BASE_MODEL"]
        if base_model == str(self.tiny_model_path):
            from headshots_tools.tinymodel import ensure_tiny_base_model

            ensure_tiny_base_model(base_model, "sd15")
        resolve_base_model(base_model)  # any other configured model must exist: the services refuse to start without it
        if self.prometheus:
            if not Path(PROMETHEUS_BINARY).exists():
                raise StackError(f"{PROMETHEUS_BINARY} is missing: `make prometheus` installs Debian's package")
            (self.run_dir / "prometheus.yml").write_text(self.prometheus_config())
        if self.containers:
            self._check_images()
            self.container_runner.hand_over_var_dir()
        self.manage("migrate", "--noinput")

    def _check_images(self) -> None:
        from headshots_tools import images, podman

        wanted = [images.image_ref(name) for name in images.SERVICES] + [images.base_image()]
        missing = [reference for reference in wanted if not podman.image_exists(reference)]
        if missing:
            raise StackError(f"{', '.join(missing)} missing: `make images` builds them")

    def manage(self, *args: str) -> str:
        """Run a gateway management command with the stack's configuration (in its image in containers mode)."""
        if self.containers:
            from headshots_tools.podman import PodmanError

            try:
                return self.container_runner.run_once("gateway", [PYTHON, "manage.py", *args], self.settings)
            except PodmanError as error:
                raise StackError(f"manage.py {' '.join(args)} failed in the gateway image: {error}") from error
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=GATEWAY_DIR, env=self.env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-2000:]}")
        return result.stdout

    def spawn(self, service: Service) -> None:
        """Start a service: a process in a session of its own, or a container of its image."""
        if self.containers:
            self.container_runner.spawn(service.name, service.image, service.argv, self.service_settings(service))
        else:
            process = self.processes.spawn(service.name, service.process_argv(), service.cwd, self.service_env(service))
            self._started[service.name] = process

    def service_settings(self, service: Service) -> dict[str, str]:
        """The shared configuration, the service's own, and its name and metrics port."""
        settings = {**self.settings, "OTEL_SERVICE_NAME": service.name, **service.env}
        if service.name in self.metrics_ports:
            settings["HEADSHOTS_METRICS_PORT"] = str(self.metrics_ports[service.name])
        return settings

    def service_env(self, service: Service) -> dict[str, str]:
        return {**os.environ, **self.service_settings(service)}

    def scrape_targets(self) -> dict[str, str]:
        """Where Prometheus scrapes each process of this stack (`headshots prometheus-config`)."""
        return {name: f"127.0.0.1:{port}" for name, port in self.metrics_ports.items()}

    def _exit_code(self, name: str) -> int | None:
        if self.containers:
            return self.container_runner.exit_code(name)
        return self._started[name].poll()

    def _wait_ready(self, service: Service, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not service.ready():
            code = self._exit_code(service.name)
            if code is not None:
                raise StackError(
                    f"{service.name} exited with code {code}; "
                    f"see {self.logs_dir / service.name}.log:\n{self.tail(service.name)}"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"{service.name} was not ready within {timeout_s:.0f}s; "
                    f"see {self.logs_dir / service.name}.log:\n{self.tail(service.name)}"
                )
            time.sleep(0.3)

    def tail(self, name: str, lines: int = 25) -> str:
        path = self.logs_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def running(self) -> dict[str, int | str]:
        """Services running, by name: a process's session id, or a container's id."""
        containers = self.container_runner.running() if self.containers else {}  # no podman call for processes
        return {**self.processes.running(), **containers}

    def down(self, timeout_s: float = 30) -> list[str]:
        """Stop every service this stack started, newest first: SIGTERM, then SIGKILL after timeout_s.

        The supervisor goes first and alone, so that it restarts nothing that is being stopped.
        """
        stopped = self.processes.stop(first=SUPERVISOR, timeout_s=timeout_s)
        return stopped + self.container_runner.stop(timeout_s)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> bool:
        """Signal every process of a service (chaos runs); True if one was alive."""
        return self.container_runner.kill(name, sig) if self.containers else self.processes.kill(name, sig)

    def alive(self, name: str) -> bool:
        return self.container_runner.alive(name) if self.containers else self.processes.alive(name)
