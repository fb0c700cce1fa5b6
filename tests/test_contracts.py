"""The .proto files are the contract: the committed stubs are generated from them, and the released partner
API never breaks (`buf breaking` against the image of its first release). `make lint` runs `buf lint`."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

from headshots_tools import client_stubs
from headshots_tools.proto_deps import copy_deps

REPO = Path(__file__).resolve().parents[1]
PROTO = REPO / "proto"
STUBS = REPO / "libs" / "common"
PACKAGES = ("headshots/v1", "headshots/partner/v1")
# The partner API as first released: later versions may add to it, never break it.
PARTNER_RELEASE = PROTO / "releases" / "headshots-partner-v1.0.0.binpb"


def _buf() -> str:
    return shutil.which("buf") or str(Path(sys.executable).parent / "buf")


def test_committed_stubs_match_the_proto_files(tmp_path):
    deps = copy_deps(tmp_path / "deps")
    protos = sorted(str(p.relative_to(PROTO)) for package in PACKAGES for p in (PROTO / package).glob("*.proto"))
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(PROTO),
            "-I",
            str(deps),
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *protos,
        ],
        cwd=PROTO,
        check=True,
    )
    for package in PACKAGES:
        generated = {p.name: p.read_bytes() for p in (out / package).iterdir()}
        committed = {
            p.name: p.read_bytes()
            for p in (STUBS / package).iterdir()
            if p.name.endswith((".py", ".pyi")) and p.name != "__init__.py"
        }
        assert sorted(generated) == sorted(committed), f"{package}: stub files differ from the .proto files"
        stale = [name for name in generated if generated[name] != committed[name]]
        assert not stale, f"stale stubs {stale}: run `make proto` and commit the result"


def test_the_client_package_carries_the_partner_stubs_as_generated():
    """clients/python ships its own copy of the partner API's stubs (`make proto` writes it): the same files, their
    one import pointed at the client's package."""
    for name in client_stubs.FILES:
        carried = (client_stubs.TARGET / name).read_text()
        assert carried == client_stubs.client_stub((client_stubs.SOURCE / name).read_text()), (
            f"{name}: run `make proto` and commit the result"
        )
        assert not re.search(r"^(from|import) headshots\.", carried, re.MULTILINE)  # nothing of headshots-common


def test_the_released_partner_api_is_not_broken():
    copy_deps()
    result = subprocess.run(
        [_buf(), "breaking", "--against", str(PARTNER_RELEASE.relative_to(REPO))],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_breaking_catches_a_breaking_change(tmp_path):
    """The check above can fail: a field renamed in a copy of the workspace is reported."""
    workspace = tmp_path / "ws"
    shutil.copytree(PROTO, workspace / "proto")
    shutil.copy(REPO / "buf.yaml", workspace / "buf.yaml")
    copy_deps(workspace / "var" / "proto-deps")
    contract = workspace / "proto" / "headshots" / "partner" / "v1" / "partner_api.proto"
    contract.write_text(contract.read_text().replace("int32 headshots_ready = 10", "int32 headshots_done = 10"))
    result = subprocess.run(
        [_buf(), "breaking", "--against", str(PARTNER_RELEASE)],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "headshots_ready" in result.stdout, result.stdout + result.stderr


def test_every_enum_starts_with_unspecified():
    from headshots.partner.v1 import partner_api_pb2
    from headshots.v1 import common_pb2, events_pb2, renderer_service_pb2, trainer_service_pb2

    for module in (common_pb2, events_pb2, partner_api_pb2, renderer_service_pb2, trainer_service_pb2):
        enums = list(module.DESCRIPTOR.enum_types_by_name.values())
        enums += [e for m in module.DESCRIPTOR.message_types_by_name.values() for e in m.enum_types]
        for enum in enums:
            assert enum.values_by_number[0].name.endswith("_UNSPECIFIED"), enum.full_name
