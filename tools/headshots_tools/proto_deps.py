"""`python -m headshots_tools.proto_deps`: the Google API protos our contracts import, for buf and protoc.

They come from the pinned `googleapis-common-protos` package (the same one whose generated modules the
services import at run time), copied under var/proto-deps: one source, no vendored copy in the repository.
The package names the long-running operations file `operations_proto.proto`; it is compiled as
`google/longrunning/operations.proto`, so it is copied under that name.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import google.api

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPS_DIR = REPO_ROOT / "var" / "proto-deps"
# Our path -> the package's path, both relative to the package root (where `google/` lives).
FILES = {
    "google/api/annotations.proto": "google/api/annotations.proto",
    "google/api/client.proto": "google/api/client.proto",
    "google/api/field_behavior.proto": "google/api/field_behavior.proto",
    "google/api/http.proto": "google/api/http.proto",
    "google/api/launch_stage.proto": "google/api/launch_stage.proto",
    "google/api/resource.proto": "google/api/resource.proto",
    "google/longrunning/operations.proto": "google/longrunning/operations_proto.proto",
    "google/rpc/status.proto": "google/rpc/status.proto",
}


def package_root() -> Path:
    return Path(next(iter(google.api.__path__))).parents[1]


def copy_deps(target: Path = DEPS_DIR) -> Path:
    source = package_root()
    for ours, theirs in FILES.items():
        destination = target / ours
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / theirs, destination)
    return target


def main() -> int:
    print(copy_deps())
    return 0


if __name__ == "__main__":
    sys.exit(main())
