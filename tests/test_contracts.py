"""The .proto files are the contract: they lint clean and the committed stubs are generated from them."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROTO = REPO / "proto"
STUBS = REPO / "libs" / "common" / "headshots" / "v1"


def test_buf_lint_passes():
    buf = shutil.which("buf") or str(Path(sys.executable).parent / "buf")
    result = subprocess.run([buf, "lint"], cwd=PROTO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_committed_stubs_match_the_proto_files(tmp_path):
    protos = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "headshots" / "v1").glob("*.proto"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(PROTO),
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            *protos,
        ],
        cwd=PROTO,
        check=True,
    )
    generated = {p.name: p.read_bytes() for p in (tmp_path / "headshots" / "v1").iterdir()}
    committed = {
        p.name: p.read_bytes() for p in STUBS.iterdir() if p.name.endswith((".py", ".pyi")) and p.name != "__init__.py"
    }
    assert sorted(generated) == sorted(committed), "stub files differ from the .proto files: run `make proto`"
    stale = [name for name in generated if generated[name] != committed[name]]
    assert not stale, f"stale stubs {stale}: run `make proto` and commit the result"


def test_every_enum_starts_with_unspecified():
    from headshots.v1 import common_pb2, events_pb2, partner_api_pb2, renderer_service_pb2, trainer_service_pb2

    for module in (common_pb2, events_pb2, partner_api_pb2, renderer_service_pb2, trainer_service_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            assert enum.values_by_number[0].name.endswith("_UNSPECIFIED"), enum.full_name
