"""The gateway as it runs, for tests and benchmarks: gunicorn (two workers), the partner gRPC server and, when
asked, the background worker, each a real process, on a database of their own (SQLite, or a fresh PostgreSQL
database). No broker or model is needed unless the worker runs (then HEADSHOTS_KAFKA_BOOTSTRAP)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from headshots_tools.ports import free_port

GATEWAY_DIR = Path(__file__).resolve().parents[2] / "services" / "gateway"
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


@dataclass
class LiveGateway:
    http: str
    grpc: str
    env: dict[str, str]
    log_path: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=GATEWAY_DIR,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        with open(self.log_path, "ab") as log:  # each child keeps its own copy
            process = subprocess.Popen(argv, cwd=GATEWAY_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def start_worker(self) -> subprocess.Popen:
        return self.start("worker", [sys.executable, "manage.py", "run_worker"])

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        process.terminate()
        process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def live_gateway(tmp_path: Path, database: str, extra_env: dict[str, str] | None = None) -> Iterator[LiveGateway]:
    created = None
    if database == "postgres":
        import psycopg

        created = f"headshots_live_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{created}"')
        database_url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{created}"
    else:
        database_url = f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
    http_port, grpc_port = free_port(), free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        HEADSHOTS_VAR_DIR=str(tmp_path),
        HEADSHOTS_BLOB_URL=f"file://{tmp_path / 'blobs'}",
        PYTHONUNBUFFERED="1",
        **(extra_env or {}),
    )
    gateway = LiveGateway(f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", env, tmp_path / "gateway.log")
    try:
        gateway.manage("migrate", "--noinput")
        gateway.start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "python:gateway.gunicorn_conf",
                "gateway.wsgi:application",
                "--bind",
                f"127.0.0.1:{http_port}",
                "--workers",
                "2",
                "--threads",
                "4",
            ],
        )
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
        if created:
            import psycopg

            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')


def _serving(gateway: LiveGateway) -> bool:
    try:
        with urllib.request.urlopen(f"{gateway.http}/healthz", timeout=1):
            pass
        with grpc.insecure_channel(gateway.grpc) as channel:
            grpc.channel_ready_future(channel).result(timeout=1)
        return True
    except Exception:
        return False
