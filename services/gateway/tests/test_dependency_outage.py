"""While the database is down, the gateway answers 503 with Retry-After (gRPC UNAVAILABLE with RetryInfo), the
error envelope naming the code `unavailable`: a client knows to wait and retry, not that it broke something.
Real processes: gunicorn and the gRPC server on a PostgreSQL of the test's own, which the test stops and starts."""

import json
import urllib.error
import urllib.request

import grpc
import pytest

from headshots.partner.v1 import partner_api_pb2 as pb, partner_api_pb2_grpc as pb_grpc
from headshots_tools.live_gateway import live_gateway
from headshots_tools.postgres import OwnPostgres

from .support import grpc_error_details

pytestmark = pytest.mark.skipif(not OwnPostgres.available(), reason="needs PostgreSQL's initdb and pg_ctl")


def _get(url: str, key: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_a_database_outage_answers_503_with_retry_after_and_unavailable_over_grpc(tmp_path):
    postgres = OwnPostgres().start()
    try:
        with live_gateway(tmp_path, "sqlite", {"DATABASE_URL": postgres.url}) as gateway:
            key = gateway.manage("partner", "create", "outage").strip()
            assert _get(f"{gateway.http}/v1/orders", key)[0] == 200
            with grpc.insecure_channel(gateway.grpc) as channel:
                orders = pb_grpc.PartnerServiceStub(channel)
                metadata = [("authorization", f"Bearer {key}")]
                orders.ListOrders(pb.ListOrdersRequest(), metadata=metadata, timeout=30)

                postgres.crash()
                status, headers, body = _get(f"{gateway.http}/v1/orders", key)
                assert status == 503, body
                assert body["error"]["code"] == "unavailable" and int(headers["Retry-After"]) >= 1
                # A person in the studio (a session to look up) gets a page saying so, not a JSON error or a 500.
                studio = urllib.request.Request(f"{gateway.http}/studio/", headers={"Cookie": "sessionid=" + "a" * 32})
                with pytest.raises(urllib.error.HTTPError) as page:
                    urllib.request.urlopen(studio, timeout=30)
                assert page.value.code == 503 and "try again" in page.value.read().decode()
                with pytest.raises(grpc.RpcError) as failed:
                    orders.ListOrders(pb.ListOrdersRequest(), metadata=metadata, timeout=30)
                assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
                details = grpc_error_details(failed.value)
                assert details["ErrorInfo"].reason == "unavailable" and "RetryInfo" in details

                postgres.start()
                assert _get(f"{gateway.http}/v1/orders", key)[0] == 200, "served again once the database is back"
                orders.ListOrders(pb.ListOrdersRequest(), metadata=metadata, timeout=30)
    finally:
        postgres.stop()
