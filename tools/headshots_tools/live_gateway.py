"""The gateway as it runs, for tests and benchmarks: gunicorn (two workers), the partner gRPC server and, when
asked, the background worker, photo checkers and the upload receiver, each a real process, on a database of their
own (SQLite, or a fresh PostgreSQL database). No broker or model is needed unless the worker or a checker runs (then
HEADSHOTS_KAFKA_BOOTSTRAP)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from headshots_tools.localstack import GATEWAY_DIR, gateway_web_command, grpc_serving, http_ok, scratch_database
from headshots_tools.ports import free_port

POSTGRES_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


def postgres_available() -> bool:
    if not POSTGRES_URL.startswith(("postgres://", "postgresql://")):
        return False
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=2):
            return True
    except Exception:
        return False


def database_params() -> list:
    """pytest parameters: SQLite always; PostgreSQL where one answers (CI has one)."""
    import pytest

    postgres = pytest.param(
        "postgres", marks=pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL on 127.0.0.1:5432")
    )
    return ["sqlite", postgres]


def production_database_param() -> list[str]:
    """pytest parameters for a test run once: PostgreSQL (production's) where one answers, else SQLite."""
    return ["postgres" if postgres_available() else "sqlite"]


@dataclass
class LiveGateway:
    http: str
    grpc: str
    env: dict[str, str]
    log_path: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    uploads_port: int = 0

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=GATEWAY_DIR,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def start(self, name: str, argv: list[str], log_path: Path | None = None) -> subprocess.Popen:
        with open(log_path or self.log_path, "ab") as log:  # each child keeps its own copy
            process = subprocess.Popen(argv, cwd=GATEWAY_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def start_worker(self) -> subprocess.Popen:
        return self.start("worker", [sys.executable, "manage.py", "run_worker"])

    def start_checker(self, name: str = "photo-checker") -> subprocess.Popen:
        """A photo checker process (the worker's relay brings it the photos), logging to `checker_log(name)`."""
        argv = [sys.executable, "manage.py", "run_photo_checker", "--name", name]
        return self.start(name, argv, self.checker_log(name))

    def checker_log(self, name: str) -> Path:
        return self.log_path.with_name(f"{name}.log")

    def start_uploads(self) -> subprocess.Popen:
        """The upload receiver, where the local store's upload URLs point; returns once it answers."""
        process = self.start("uploads", gateway_web_command(self.uploads_port, uploads=True))
        deadline = time.monotonic() + 60
        while not http_ok(f"http://127.0.0.1:{self.uploads_port}/healthz"):
            assert process.poll() is None and time.monotonic() < deadline, self.log()
            time.sleep(0.2)
        return process

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        process.terminate()
        process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def live_gateway(tmp_path: Path, database: str, extra_env: dict[str, str] | None = None) -> Iterator[LiveGateway]:
    with scratch_database(POSTGRES_URL if database == "postgres" else "") as own:
        http_port, grpc_port, uploads_port = free_port(), free_port(), free_port()
        env = {
            **os.environ,
            "DATABASE_URL": own.get("DATABASE_URL", f"sqlite:///{tmp_path / 'gateway.sqlite3'}"),
            "HEADSHOTS_VAR_DIR": str(tmp_path),
            "HEADSHOTS_BLOB_URL": f"file://{tmp_path / 'blobs'}",  # or the caller's (an S3 bucket)
            "HEADSHOTS_UPLOAD_URL": f"http://127.0.0.1:{uploads_port}",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        gateway = LiveGateway(
            f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", env, tmp_path / "gateway.log", {}, uploads_port
        )
        try:
            gateway.manage("migrate", "--noinput")
            gateway.start("web", gateway_web_command(http_port))
            gateway.start("grpc", [sys.executable, "manage.py", "run_partner_grpc", "--port", str(grpc_port)])
            deadline = time.monotonic() + 60
            while not _serving(gateway):
                assert all(p.poll() is None for p in gateway.processes.values()), gateway.log()
                assert time.monotonic() < deadline, "the gateway did not start:\n" + gateway.log()
                time.sleep(0.2)
            yield gateway
        finally:
            for name in list(gateway.processes):
                gateway.stop(name)


def _serving(gateway: LiveGateway) -> bool:
    return http_ok(f"{gateway.http}/healthz") and grpc_serving(gateway.grpc)
