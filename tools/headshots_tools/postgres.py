"""A PostgreSQL server of a run's own, on a free loopback port, which a chaos run can restart under the stack.

Made with PostgreSQL's own `initdb` and `pg_ctl` (on the PATH, or Debian's /usr/lib/postgresql/<version>/bin).
PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user. Restarting the shared
server of a machine would disturb everyone on it; this one belongs to the run and goes with it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from headshots_tools.ports import free_port

DATABASE = "headshots"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    return next((str(p / name) for p in versions if (p / name).exists()), None)


class OwnPostgres:
    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="headshots-pg-"))
        self.data = self.root / "data"
        self._user = "postgres" if os.geteuid() == 0 else None
        self._created = False

    @staticmethod
    def available() -> bool:
        if not (_binary("initdb") and _binary("pg_ctl")):
            return False
        if os.geteuid() != 0:
            return True
        try:
            pwd.getpwnam("postgres")
            return shutil.which("runuser") is not None
        except KeyError:
            return False

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", self._user, "--"] if self._user else []
        subprocess.run([*prefix, *argv], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> OwnPostgres:
        if not self.data.exists():
            if self._user:
                shutil.chown(self.root, self._user)
            self._run(_binary("initdb") or "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust")
        self._pg_ctl("start", "-w", "-l", str(self.root / "server.log"), "-o", self._options())
        if not self._created:
            import psycopg

            with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
            self._created = True
        return self

    def _options(self) -> str:
        return f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c max_connections=200"

    def _pg_ctl(self, *args: str) -> None:
        self._run(_binary("pg_ctl") or "pg_ctl", "-D", str(self.data), *args)

    def crash(self) -> None:
        """Stop at once, as a crashed or killed server does (every connection cut); `start` recovers it from the
        write-ahead log."""
        self._pg_ctl("stop", "-m", "immediate", "-w")

    def restart(self, down_s: float = 5.0) -> None:
        """Crash, and start again after `down_s` seconds."""
        self.crash()
        time.sleep(down_s)
        self.start()

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "fast", "-w")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
