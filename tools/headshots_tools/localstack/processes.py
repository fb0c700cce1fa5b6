"""Services as processes of the host, each in a POSIX session of its own, found again by its pid file.

Each process logs to VAR/logs/NAME.log and leaves VAR/run/NAME.pid, so that `down` (or the supervisor) finds
what an earlier `up` started. Ray's daemons and workers stay in the renderer's session even when their parent
exits, so emptying the sessions leaves no broker, service or Ray process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def session_members(sid: int) -> list[int]:
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


def signal_session(sid: int, sig: int) -> None:
    for pid in session_members(sid):
        with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
            os.kill(pid, sig)


class Processes:
    """Starts, finds and stops the stack's processes under VAR/run (pid files) and VAR/logs."""

    def __init__(self, run_dir: Path, logs_dir: Path):
        self.run_dir, self.logs_dir = run_dir, logs_dir

    def pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def spawn(self, name: str, argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        """Start a process in a session of its own; its pid file names the session."""
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
        self.pidfile(name).write_text(str(process.pid))
        return process

    def running(self) -> dict[str, int]:
        """Services with a live process in their session (the service or what it started), by name."""
        alive = {}
        for pidfile in sorted(self.run_dir.glob("*.pid")) if self.run_dir.exists() else []:
            pid = int(pidfile.read_text())
            if session_members(pid):
                alive[pidfile.stem] = pid
        return alive

    def alive(self, name: str) -> bool:
        pidfile = self.pidfile(name)
        return pidfile.exists() and bool(session_members(int(pidfile.read_text())))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> bool:
        """Signal every process of a service's session (chaos runs); True if one was alive."""
        if not self.alive(name):
            return False
        signal_session(int(self.pidfile(name).read_text()), sig)
        return True

    def stop(self, first: str | None, timeout_s: float) -> list[str]:
        """SIGTERM to every session (`first`, alone, before the others), SIGKILL to what is left after timeout_s."""
        if first and self.pidfile(first).exists():
            self._stop_sessions({first: int(self.pidfile(first).read_text())}, timeout_s)
        pidfiles = (
            sorted(self.run_dir.glob("*.pid"), key=lambda p: p.stat().st_mtime, reverse=True)
            if self.run_dir.exists()
            else []
        )
        sessions = {pidfile.stem: int(pidfile.read_text()) for pidfile in pidfiles}
        stopped = [name for name, sid in sessions.items() if session_members(sid)]
        self._stop_sessions(sessions, timeout_s)
        for pidfile in pidfiles:
            pidfile.unlink(missing_ok=True)
        return stopped

    @staticmethod
    def _stop_sessions(sessions: dict[str, int], timeout_s: float) -> None:
        for sid in sessions.values():
            signal_session(sid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(session_members(sid) for sid in sessions.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for sid in sessions.values():
            signal_session(sid, signal.SIGKILL)
