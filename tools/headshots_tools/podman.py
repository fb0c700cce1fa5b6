"""Podman as the project runs it: installed with apt where missing, with the settings this kind of machine needs.

Three settings, found by a trial on these machines and kept in one containers.conf that every podman command
of the project reads (CONTAINERS_CONF):
- the `runc` runtime: crun refuses the hybrid cgroups (v1 controllers beside a v2 mount) found here;
- nofile and nproc ulimits no higher than this machine grants: podman's defaults (1048576 open files) are
  refused by runc ("error setting rlimits ... operation not permitted"), and so is an nproc above pid_max;
- pip inside a build trusting the host's certificate authorities: images.py mounts the host's CA bundle
  read-only for the build (never into a layer).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = REPO_ROOT / "var" / "podman"
# Debian's packages: the engine, its builder, its runtime and network stack, and debootstrap for the base image.
APT_PACKAGES = (
    "podman",
    "buildah",
    "runc",
    "netavark",
    "aardvark-dns",
    "uidmap",
    "fuse-overlayfs",
    "catatonit",  # the init of the pause image that `podman kube play` builds for its pods
    "debootstrap",
)


class PodmanError(RuntimeError):
    pass


def ensure_installed() -> None:
    """Install podman and what goes with it from Debian's packages where missing (as root, or with sudo)."""
    missing = [tool for tool in ("podman", "buildah", "runc", "catatonit", "debootstrap") if shutil.which(tool) is None]
    if not missing:
        return
    apt = shutil.which("apt-get")
    sudo = [] if os.geteuid() == 0 else (["sudo"] if shutil.which("sudo") else None)
    if apt is None or sudo is None:
        raise PodmanError(
            f"{', '.join(missing)} missing and apt-get cannot install them here: install podman (4.3 or newer), "
            "buildah, runc and debootstrap with your system's package manager, then run `make images` again"
        )
    print(f"==> installing Debian's {' '.join(APT_PACKAGES)} (missing: {', '.join(missing)})", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, apt, "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, apt, "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES], check=True, env=env)


def ulimits() -> dict[str, tuple[int, int]]:
    """nofile and nproc for every container: this machine's hard limits (nproc no higher than pid_max)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    limits = {"nofile": nofile, "nproc": min(nproc, pid_max)}
    return {name: (value, value) for name, value in limits.items() if value != resource.RLIM_INFINITY}


def conf_path() -> Path:
    """The project's containers.conf (written on first use): runc and the ulimits above."""
    lines = ["[containers]", "default_ulimits = " + json.dumps([f"{k}={s}:{h}" for k, (s, h) in ulimits().items()])]
    lines += ["", "[engine]", 'runtime = "runc"', ""]
    text = "\n".join(lines)
    path = CONF_DIR / "containers.conf"
    if not path.exists() or path.read_text() != text:
        CONF_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(conf_path())}


def podman(*args: str, check: bool = True, capture: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run `podman ARGS` with the project's settings; its output captured (text) unless capture=False."""
    result = subprocess.run(["podman", *args], env=env(), text=True, capture_output=capture, check=False, **kwargs)
    if check and result.returncode != 0:
        detail = (result.stderr or "")[-3000:] if capture else ""
        raise PodmanError(f"podman {' '.join(args[:3])} ... exited {result.returncode}: {detail}")
    return result


def image_exists(reference: str) -> bool:
    return podman("image", "exists", reference, check=False).returncode == 0


def image_id(reference: str) -> str | None:
    result = podman("image", "inspect", "--format", "{{.Id}}", reference, check=False)
    return result.stdout.strip() or None if result.returncode == 0 else None


def image_size_mb(reference: str) -> float:
    """The image's size as `podman images` shows it (its layers uncompressed), in MB."""
    size = int(podman("image", "inspect", "--format", "{{.Size}}", reference).stdout.strip())
    return round(size / 1e6, 1)
