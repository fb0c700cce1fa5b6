"""The Helm chart's README: its "## Parameters" section, generated from the `## @param` comments of values.yaml.

    python -m headshots_tools.chart_readme            # rewrite deploy/helm/headshots/README.md
    python -m headshots_tools.chart_readme --check    # exit 1 with a diff when the README is stale

The generator is Bitnami's readme-generator-for-helm (npm package @bitnami/readme-generator-for-helm),
pinned exactly, with everything it needs, by package.json and package-lock.json beside this file. It
is installed with the machine's Node.js and npm (`npm ci`) into var/node/ (git-ignored, like all of
var/) the first time it is needed, and again whenever package-lock.json changes.

The generator runs on a copy of values.yaml and README.md in a scratch directory: it replaces
everything under the README's `## Parameters` heading, up to the next heading of the same level, and
keeps the hand-written text around it. It also checks that every value of values.yaml has its
`## @param` line and that every `## @param` names a value; a mismatch is an error (exit status 2).
"""

from __future__ import annotations

import argparse
import difflib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "headshots"
NODE_DIR = REPO_ROOT / "var" / "node"
PACKAGE = "@bitnami/readme-generator-for-helm"
PACKAGE_FILES = ("package.json", "package-lock.json")
TIMEOUT_S = 300

STALE = 1  # --check: the README differs from what values.yaml generates
FAILED = 2  # the generator could not be installed or rejected values.yaml or the README


class ChartReadmeError(Exception):
    """The generator could not be installed, or it rejected values.yaml or the README."""


def pinned_version() -> str:
    """The exact version of the generator that package.json pins."""
    return json.loads((HERE / "package.json").read_text())["dependencies"][PACKAGE]


def _lock_digest() -> str:
    digest = hashlib.sha256()
    for name in PACKAGE_FILES:
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ChartReadmeError(
            f"`{name}` not found: the chart README generator needs Node.js and npm (Debian: apt-get install nodejs npm)"
        )
    return path


def install(node_dir: Path = NODE_DIR) -> Path:
    """Install the pinned generator under node_dir unless it is there already; return its entry script."""
    target = node_dir / f"readme-generator-for-helm-{pinned_version()}"
    entry = target / "node_modules" / "@bitnami" / "readme-generator-for-helm" / "bin" / "index.js"
    stamp = target / ".package-lock.sha256"  # written last: an interrupted install is redone
    wanted = _lock_digest()

    def installed() -> bool:
        return entry.is_file() and stamp.is_file() and stamp.read_text().strip() == wanted

    if installed():
        return entry
    npm = _tool("npm")
    node_dir.mkdir(parents=True, exist_ok=True)
    with open(node_dir / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time (e.g. two test runs at once)
        if installed():
            return entry
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        for name in PACKAGE_FILES:
            shutil.copyfile(HERE / name, target / name)
        print(f"==> installing {PACKAGE}@{pinned_version()} into {target}", file=sys.stderr)
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=target,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        if result.returncode != 0 or not entry.is_file():
            raise ChartReadmeError(
                f"npm ci of {PACKAGE}@{pinned_version()} in {target} failed:\n{result.stdout}{result.stderr}"
            )
        stamp.write_text(wanted + "\n")
    return entry


def generate(chart_dir: Path = CHART_DIR, node_dir: Path = NODE_DIR) -> str:
    """The chart's README.md as the generator makes it from the chart's values.yaml (nothing is written)."""
    values, readme = chart_dir / "values.yaml", chart_dir / "README.md"
    if not readme.is_file():
        raise ChartReadmeError(f"{readme} is missing: write its introduction and an empty `## Parameters` section")
    entry = install(node_dir)
    node = _tool("node")
    with tempfile.TemporaryDirectory(prefix="headshots-chart-readme-") as scratch:
        shutil.copyfile(values, Path(scratch) / "values.yaml")
        shutil.copyfile(readme, Path(scratch) / "README.md")
        result = subprocess.run(
            [node, str(entry), "--values", "values.yaml", "--readme", "README.md"],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        if result.returncode != 0:
            # The generator's own report ("ERROR: Missing metadata for key: ..."), without its stack trace.
            report = [line for line in result.stdout.splitlines() if not line.startswith("Skipping check for ")]
            stderr = result.stderr.strip().splitlines()
            raise ChartReadmeError(f"{PACKAGE} rejected {values} or {readme}:\n" + "\n".join(report + stderr[:6]))
        return (Path(scratch) / "README.md").read_text()


def _display(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m headshots_tools.chart_readme", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff when README.md is not what values.yaml generates",
    )
    parser.add_argument("--chart", type=Path, default=CHART_DIR, help="the chart directory (default: %(default)s)")
    parser.add_argument(
        "--node-dir",
        type=Path,
        default=Path(os.environ.get("HEADSHOTS_NODE_DIR", NODE_DIR)),
        help="where the pinned generator is installed (default: $HEADSHOTS_NODE_DIR or %(default)s)",
    )
    args = parser.parse_args(argv)
    chart_dir = args.chart.resolve()
    readme = chart_dir / "README.md"
    try:
        generated = generate(chart_dir, args.node_dir.resolve())
    except ChartReadmeError as error:
        print(f"error: {error}", file=sys.stderr)
        return FAILED
    current = readme.read_text()
    if generated == current:
        print(f"{_display(readme)} is up to date with values.yaml")
        return 0
    if args.check:
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            generated.splitlines(keepends=True),
            f"{_display(readme)} (committed)",
            f"{_display(readme)} (generated from values.yaml)",
        )
        sys.stdout.writelines(diff)
        print(
            f"\n{_display(readme)} is stale: run `python -m headshots_tools.chart_readme` (make chart-readme) "
            "and commit the result",
            file=sys.stderr,
        )
        return STALE
    readme.write_text(generated)
    print(f"{_display(readme)} regenerated from values.yaml")
    return 0
