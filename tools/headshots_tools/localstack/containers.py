"""Services as containers of the service images (`make up CONTAINERS=1`), run with podman as the chart runs them.

Each service runs from the image the chart gives it (tools/headshots_tools/images.py builds them), as the user
of the chart's securityContext (10001), on a read-only root filesystem with the chart's emptyDir on /tmp as a
tmpfs, and without an init process: it must stop on SIGTERM by itself, as in a pod. The containers share the
host's network, so ports and readiness are those of the processes, and the stack's var folder, mounted at the
same path: the SQLite database, blobs, mails, heartbeats and the tiny model. A service that has no image (the
broker, Prometheus) runs its host binary, mounted read-only, in the base image.

Containers carry the label io.headshots.stack=<var folder>; `down` stops them with `podman stop` (SIGTERM,
then SIGKILL after the timeout) and writes how long each took, and its exit code, to VAR/run/stop-seconds.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

from headshots_tools import images, podman

LABEL = "io.headshots.stack"
USER = "10001:10001"  # the chart's runAsUser and runAsGroup
TMPFS = ("/tmp",)  # the chart's emptyDir mounts
SHM_SIZE = "1g"  # Ray's object store lives in /dev/shm (the chart mounts a memory emptyDir there)


class Containers:
    """Starts, finds and stops the stack's containers by their label and names."""

    def __init__(self, var_dir: Path, run_dir: Path, logs_dir: Path):
        self.var_dir, self.run_dir, self.logs_dir = var_dir, run_dir, logs_dir
        self.prefix = f"headshots-{hashlib.sha1(str(var_dir).encode()).hexdigest()[:8]}-"

    def container(self, name: str) -> str:
        return self.prefix + name

    def user_args(self) -> list[str]:
        """Run as 10001: as root, the var folder is handed to 10001; rootless, the caller's uid maps to it."""
        if os.geteuid() == 0:
            return [f"--user={USER}"]
        return [f"--user={USER}", "--userns=keep-id:uid=10001,gid=10001"]

    def hand_over_var_dir(self) -> None:
        """The containers' user owns the var folder (as root; rootless podman maps the caller's uid to 10001)."""
        if os.geteuid() != 0:
            return
        uid, gid = (int(part) for part in USER.split(":"))
        for top, dirs, files in os.walk(self.var_dir):
            for name in [top, *(os.path.join(top, entry) for entry in dirs + files)]:
                os.lchown(name, uid, gid)

    def run_args(self, name: str, env: dict[str, str]) -> list[str]:
        tmpfs = [arg for path in TMPFS for arg in ("--tmpfs", f"{path}:rw,mode=1777")]
        return [
            f"--label={LABEL}={self.var_dir}",
            "--network=host",
            *self.user_args(),
            "--read-only",
            "--read-only-tmpfs=false",  # podman's own tmpfs on /run and /var/tmp: the chart has none
            *tmpfs,
            f"--shm-size={SHM_SIZE}",
            f"--volume={self.var_dir}:{self.var_dir}",
            *[arg for key, value in sorted(env.items()) for arg in ("--env", f"{key}={value}")],
        ]

    def image_and_argv(self, image: str | None, argv: list[str]) -> tuple[str, list[str], list[str]]:
        """(image, command, extra mounts): a service without an image runs its host binary in the base image."""
        if image is not None:
            return images.image_ref(image), argv, []
        # Where the runtime user reaches it (the broker's binary lives under root's home on the host).
        binary = Path(argv[0]).resolve()
        inside = f"/usr/local/bin/{binary.name}"
        return images.base_image(), [inside, *argv[1:]], [f"--volume={binary}:{inside}:ro"]

    def spawn(self, name: str, image: str | None, argv: list[str], env: dict[str, str]) -> str:
        """Start a service's container (detached, logging to VAR/logs/NAME.log); returns its name."""
        container = self.container(name)
        podman.podman("rm", "--force", "--ignore", container)
        reference, command, mounts = self.image_and_argv(image, argv)
        log = self.logs_dir / f"{name}.log"
        podman.podman(
            "run",
            "--detach",
            f"--name={container}",
            "--log-driver=k8s-file",
            f"--log-opt=path={log}",
            *self.run_args(name, env),
            *mounts,
            reference,
            *command,
        )
        return container

    def run_once(self, image: str, argv: list[str], env: dict[str, str]) -> str:
        """Run a command to its end in a container of `image` (migrations); its output, or PodmanError."""
        result = podman.podman("run", "--rm", *self.run_args("once", env), images.image_ref(image), *argv)
        return result.stdout

    def exit_code(self, name: str) -> int | None:
        """None while the container runs; its exit code once it stopped (-1 when it does not exist)."""
        result = podman.podman(
            "inspect",
            "--type=container",
            "--format",
            "{{.State.Running}} {{.State.ExitCode}}",
            self.container(name),
            check=False,
        )
        if result.returncode != 0:
            return -1
        running, code = result.stdout.split()
        return None if running == "true" else int(code)

    def running(self) -> dict[str, str]:
        """The stack's running containers, by service name (their container ids)."""
        result = podman.podman(
            "ps", f"--filter=label={LABEL}={self.var_dir}", "--format={{.Names}} {{.ID}}", check=False
        )
        found = {}
        for line in result.stdout.splitlines():
            container, container_id = line.split()
            if container.startswith(self.prefix):
                found[container.removeprefix(self.prefix)] = container_id
        return found

    def alive(self, name: str) -> bool:
        return self.exit_code(name) is None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> bool:
        if not self.alive(name):
            return False
        podman.podman("kill", f"--signal={sig}", self.container(name), check=False)
        return True

    def stop(self, timeout_s: float) -> list[str]:
        """`podman stop` every container of the stack, newest first; how long each took and its exit code (137:
        killed after the timeout) go to VAR/run/stop-seconds.json."""
        if shutil.which("podman") is None:  # a stack of processes on a machine without podman: no containers
            return []
        ours = f"--filter=label={LABEL}={self.var_dir}"
        listed = podman.podman("ps", "--all", "--sort=created", ours, "--format={{.Names}}", check=False)
        containers = [name for name in reversed(listed.stdout.split()) if name.startswith(self.prefix)]
        stops = {}
        for container in containers:  # the newest first: the broker, which the others use, last
            name = container.removeprefix(self.prefix)
            if self.alive(name):
                started = time.monotonic()
                podman.podman("stop", f"--time={int(timeout_s)}", container, check=False)
                stops[name] = {"seconds": round(time.monotonic() - started, 2), "exit_code": self.exit_code(name)}
            podman.podman("rm", "--force", "--ignore", container, check=False)
        if stops:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "stop-seconds.json").write_text(json.dumps(stops, indent=1))
        return list(stops)
