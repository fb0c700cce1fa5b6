"""A partner's gRPC client, as a new partner would write one: stubs compiled from our .proto files into a
directory of its own, nothing of this project imported. The conformance test drives it over stdin/stdout.

Usage: python grpc_partner_driver.py STUBS_DIR TARGET API_KEY, then one JSON command per line:
{"service": "PartnerService"|"Operations", "method": "...", "request": {...} | [{...}, ...]}
Each answer is one JSON line: {"code": "OK"|status name, "reason": ErrorInfo reason, "response": ...}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STUBS, TARGET, KEY = sys.argv[1:4]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from google.longrunning import operations_pb2_grpc, operations_proto_pb2  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402
from grpc_status import rpc_status  # noqa: E402

from headshots.partner.v1 import partner_api_pb2, partner_api_pb2_grpc  # noqa: E402

if not Path(partner_api_pb2.__file__).resolve().is_relative_to(Path(STUBS).resolve()):
    sys.exit(f"the stubs came from {partner_api_pb2.__file__}, not from {STUBS}")

channel = grpc.insecure_channel(TARGET, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
STUBS_BY_SERVICE = {
    "PartnerService": (partner_api_pb2_grpc.PartnerServiceStub(channel), partner_api_pb2),
    "Operations": (operations_pb2_grpc.OperationsStub(channel), operations_proto_pb2),
}
METADATA = [("authorization", f"Bearer {KEY}")] if KEY else []


def call(command: dict) -> dict:
    stub, module = STUBS_BY_SERVICE[command["service"]]
    method = command["method"]
    descriptor = module.DESCRIPTOR.services_by_name[command["service"]].methods_by_name[method]
    request_class = getattr(module, descriptor.input_type.name)
    payload = command["request"]
    try:
        if descriptor.client_streaming:
            requests = [json_format.ParseDict(r, request_class()) for r in payload]
            response = getattr(stub, method)(iter(requests), metadata=METADATA, timeout=60)
        elif descriptor.server_streaming:
            stream = getattr(stub, method)(
                json_format.ParseDict(payload, request_class()), metadata=METADATA, timeout=60
            )
            return {"code": "OK", "reason": "", "response": [json_format.MessageToDict(m) for m in stream]}
        else:
            response = getattr(stub, method)(
                json_format.ParseDict(payload, request_class()), metadata=METADATA, timeout=60
            )
        return {"code": "OK", "reason": "", "response": json_format.MessageToDict(response)}
    except grpc.RpcError as error:
        reason = ""
        status = rpc_status.from_call(error)
        for detail in status.details if status else []:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
        return {"code": error.code().name, "reason": reason, "response": None}


for line in sys.stdin:
    print(json.dumps(call(json.loads(line))), flush=True)
