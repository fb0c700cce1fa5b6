"""`make images`: the service images, built from their Dockerfiles with podman, on a base made here.

    python -m headshots_tools.images [gateway trainer renderer] [--report FILE]

1. The base: debootstrap makes a Debian bookworm root filesystem (minbase, with Debian's Python 3.11 and
   venv) from the mirror apt uses, which is imported as localhost/headshots-base. No registry is contacted:
   the Dockerfiles take the base as the build argument BASE_IMAGE, whose default (the upstream
   python:3.11.7-slim-bookworm) a production build keeps. The base is made again only when its recipe
   changes (a label on the image records it).
2. Each image is built from the repository root and tagged as the chart names it (registry/repository of
   its values, tag: the chart's appVersion), so the chart's own references find it locally. Layers are
   cached: the Dockerfiles install the third-party dependencies in a layer that only constraints.txt and
   the pyproject.toml files invalidate, so a rebuild after a code change reuses it.
3. pip inside the build sees what pip sees on this machine: its find-links folders and file:// indexes
   (the CPU torch wheel is one: PyPI's torch for Linux is the CUDA build, gigabytes) and its CA bundle,
   mounted read-only for the build only and passed as the build arguments PIP_FIND_LINKS,
   PIP_EXTRA_INDEX_URL and PIP_CERT. Nothing of them is copied into a layer.
4. Each image's size is printed; the layers an earlier build left behind (no longer in any image's build
   chain) are removed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

from headshots_tools import podman

REPO_ROOT = podman.REPO_ROOT
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "headshots"
SERVICES = ("gateway", "trainer", "renderer")

BASE_REPOSITORY = "localhost/headshots-base"
BASE_SUITE = "bookworm"
# What the Dockerfiles need of a base, as the upstream python image has it: `python` 3.11 with venv and its C
# headers (a source-only package compiles against them), CA certificates, /etc/services and /etc/protocols.
BASE_PACKAGES = ("python3", "python3-venv", "python3-dev", "python-is-python3", "ca-certificates", "netbase")
# Left out of the base: apt's downloads and lists (an image that needs a package runs apt-get update) and
# documentation, as in Debian's slim images.
BASE_TRIM = (
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/*.bin",
    "var/lib/apt/lists/*",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)
RECIPE_LABEL = "io.headshots.base.recipe"
# Where the host's CA bundle is mounted during a build: the base's own bundle, shadowed for the build only.
BUILD_CA_PATH = "/etc/ssl/certs/ca-certificates.crt"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass
class Built:
    service: str
    image: str
    size_mb: float
    seconds: float


# ---------------------------------------------------------------------------------------------------- names


def app_version() -> str:
    return str(yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"])


def image_ref(service: str) -> str:
    """The image as the chart's default values name it: registry/repository:appVersion."""
    image = yaml.safe_load((CHART_DIR / "values.yaml").read_text())[service]["image"]
    return f"{image['registry']}/{image['repository']}:{app_version()}"


# ---------------------------------------------------------------------------------------------------- the base


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources), else Debian's CDN."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            deb822 = re.match(r"URIs:\s*(\S+)", line)
            oneline = re.match(r"deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+" + BASE_SUITE + r"\s", line)
            match = deb822 or oneline
            if match and "security" not in match.group(1):
                return match.group(1).rstrip("/")
    return DEFAULT_MIRROR


def base_recipe() -> str:
    return hashlib.sha256(json.dumps([BASE_SUITE, BASE_PACKAGES, BASE_TRIM]).encode()).hexdigest()[:16]


def base_image() -> str:
    return f"{BASE_REPOSITORY}:{BASE_SUITE}"


def ensure_base() -> str:
    """localhost/headshots-base, made by debootstrap unless an image of the same recipe exists."""
    reference = base_image()
    if podman.image_exists(reference):
        labels = podman.podman("image", "inspect", "--format", "{{json .Labels}}", reference).stdout
        if (json.loads(labels) or {}).get(RECIPE_LABEL) == base_recipe():
            return reference
    mirror = apt_mirror()
    rootfs = REPO_ROOT / "var" / "images" / "base-rootfs"
    archive = rootfs.with_suffix(".tar")
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    print(f"==> {reference}: debootstrap {BASE_SUITE} from {mirror} ({', '.join(BASE_PACKAGES)})", flush=True)
    started = time.monotonic()
    try:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                BASE_SUITE,
                str(rootfs),
                mirror,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # Updates and security fixes for whatever a Dockerfile installs later, as in Debian's own images.
        (rootfs / "etc/apt/sources.list").write_text(
            f"deb {mirror} {BASE_SUITE} main\n"
            f"deb {mirror} {BASE_SUITE}-updates main\n"
            f"deb {mirror.rsplit('/', 1)[0]}/debian-security {BASE_SUITE}-security main\n"
        )
        for pattern in BASE_TRIM:
            for path in rootfs.glob(pattern):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        changes = [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            'CMD ["python3"]',
            f"LABEL {RECIPE_LABEL}={base_recipe()}",
        ]
        # A whole archive first: an import must never see half a root filesystem.
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
        args = [arg for change in changes for arg in ("--change", change)]
        podman.podman("import", *args, str(archive), reference)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
        archive.unlink(missing_ok=True)
    print(
        f"    {reference}: {podman.image_size_mb(reference):.0f} MB in {time.monotonic() - started:.0f} s", flush=True
    )
    return reference


# ---------------------------------------------------------------------------------------------------- builds


def host_pip_config() -> dict[str, str]:
    """This machine's pip configuration (files and PIP_* variables), as `pip config list` shows it."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    config: dict[str, str] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        config[key.split(".", 1)[-1]] = value.strip().strip("'\"")  # the last one wins, as in pip
    return config


def pip_build_options() -> tuple[list[str], list[str]]:
    """(--build-arg ..., -v ...:ro ...): the host pip's local wheel folders, local indexes and CA bundle."""
    config = host_pip_config()
    build_args, mounts = [], set()
    find_links = [p for p in config.get("find-links", "").split() if Path(p).is_dir()]
    if find_links:
        build_args.append(f"PIP_FIND_LINKS={' '.join(find_links)}")
        mounts.update(find_links)
    indexes = [u for u in config.get("extra-index-url", "").split() if urlparse(u).scheme == "file"]
    indexes = [u for u in indexes if Path(urlparse(u).path).is_dir()]
    if indexes:
        build_args.append(f"PIP_EXTRA_INDEX_URL={' '.join(indexes)}")
        # An index's pages link to files beside it (/opt/pypi/simple -> /opt/pypi/files): mount its parent.
        mounts.update(str(Path(urlparse(u).path).parent) for u in indexes)
    volumes = [f"{path}:{path}:ro" for path in sorted(mounts)]
    cert = config.get("cert")
    if cert and Path(cert).is_file():
        build_args.append(f"PIP_CERT={BUILD_CA_PATH}")
        volumes.append(f"{Path(cert).resolve()}:{BUILD_CA_PATH}:ro")
    return [a for arg in build_args for a in ("--build-arg", arg)], [a for v in volumes for a in ("-v", v)]


def build(service: str, base: str, context: Path = REPO_ROOT, log: Path | None = None) -> tuple[Built, set[str]]:
    """Build one image; returns it and the ids of every layer image of its build (the cache to keep)."""
    reference = image_ref(service)
    build_args, volumes = pip_build_options()
    log = log or REPO_ROOT / "var" / "images" / f"{service}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"==> {reference}: building services/{service}/Dockerfile (log: {log})", flush=True)
    with log.open("w") as out:
        result = subprocess.run(
            [
                "podman",
                "build",
                "--layers",
                "--pull=never",
                # RUN steps on the host's network, as the containers run: the default bridge needs netavark to set
                # up iptables, which a fresh machine (CI's) lacks ("netavark: No such file or directory").
                "--network=host",
                # Docker's image format, as `docker build` makes: OCI's has no SHELL (the renderer's pipefail).
                "--format=docker",
                "--file",
                str(context / "services" / service / "Dockerfile"),
                "--build-arg",
                f"BASE_IMAGE={base}",
                *build_args,
                *volumes,
                "--tag",
                reference,
                str(context),
            ],
            env=podman.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise podman.PodmanError(f"building {reference} failed (exit {result.returncode}); {log}:\n{tail}")
    seconds = round(time.monotonic() - started, 1)
    chain = set(re.findall(r"--> (?:Using cache )?([0-9a-f]{11,64})", log.read_text(errors="replace")))
    built = Built(service, reference, podman.image_size_mb(reference), seconds)
    print(f"    {reference}: {built.size_mb:.0f} MB, built in {seconds:.0f} s", flush=True)
    return built, chain


def remove_stale_layers(keep: set[str]) -> int:
    """Remove untagged layer images that no current build used (what earlier builds left); returns how many."""
    removed = 0
    while True:
        images = json.loads(podman.podman("images", "--all", "--format", "json").stdout or "[]")
        parents = {image.get("ParentId") for image in images}
        stale = [
            image["Id"]
            for image in images
            if not image.get("RepoTags")
            and image["Id"] not in parents
            and not image.get("Containers")
            and not any(image["Id"].startswith(short) for short in keep)
        ]
        if not stale:
            return removed
        podman.podman("rmi", *stale, check=False)
        removed += len(stale)


def build_all(services: tuple[str, ...] | list[str] = SERVICES, context: Path = REPO_ROOT) -> list[Built]:
    podman.ensure_installed()
    base = ensure_base()
    results, keep = [], set()
    for service in services:
        built, chain = build(service, base, context)
        results.append(built)
        keep |= chain
    removed = remove_stale_layers(keep)
    if removed:
        print(f"==> removed {removed} layer images that earlier builds left", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("services", nargs="*", help=f"some of {', '.join(SERVICES)} (default: all)")
    parser.add_argument("--report", type=Path, help="write each image's size and build time as JSON")
    args = parser.parse_args(argv)
    unknown = set(args.services) - set(SERVICES)
    if unknown:
        parser.error(f"no such service: {', '.join(sorted(unknown))}")
    try:
        results = build_all(args.services or list(SERVICES))
    except (podman.PodmanError, subprocess.CalledProcessError) as error:
        print(f"make images: {error}", file=sys.stderr)
        return 1
    print("\n".join(f"{r.image}: {r.size_mb:.0f} MB" for r in results))
    if args.report:
        args.report.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
