"""The partner API's stubs for the client package (`clients/python`): libs/common's generated ones (`make proto`),
with the one import between them pointed at the client's own package, so that its wheel carries them and needs no
headshots-common. `make proto` runs this after protoc; tests/test_contracts.py fails when they drift."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "libs" / "common" / "headshots" / "partner" / "v1"
TARGET = REPO / "clients" / "python" / "src" / "headshots_client" / "_proto"
FILES = ("partner_api_pb2.py", "partner_api_pb2.pyi", "partner_api_pb2_grpc.py")


def client_stub(text: str) -> str:
    return text.replace("from headshots.partner.v1 import", "from headshots_client._proto import")


def main() -> None:
    for name in FILES:
        (TARGET / name).write_text(client_stub((SOURCE / name).read_text()))


if __name__ == "__main__":
    main()
