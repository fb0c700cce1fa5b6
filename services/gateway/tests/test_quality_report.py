"""Each headshot's scores and the order's quality report, in REST and gRPC alike, and sorting by score."""

from __future__ import annotations

import pytest

from headshots.partner.v1 import partner_api_pb2 as pb
from headshots.v1 import events_pb2

from .support import complete_order

SCORES = [(0.62, 0.71), (0.81, 0.55), (0.74, 0.78)]
POOL = events_pb2.QualityReport(
    generated=5, delivered=3, rejected={"no_face": 1, "eyes_hidden": 1}, gated=True, consistency=0.83
)


@pytest.fixture
def rendered(api):
    order = api.post("/v1/orders", {"package": "trial", "styles": ["corporate-navy"]}, format="json").json()
    complete_order(order["id"], n=3, scores=SCORES, quality=POOL)
    return order


def test_every_headshot_carries_its_scores_and_sorts_by_them(api, rendered):
    base = f"/v1/orders/{rendered['id']}/headshots"
    shots = api.get(base).json()["results"]
    assert [h["likeness_score"] for h in shots] == pytest.approx([s[0] for s in SCORES])
    assert [h["quality_score"] for h in shots] == pytest.approx([s[1] for s in SCORES])
    assert all(h["gated"] for h in shots)
    by_quality = [h["quality_score"] for h in api.get(f"{base}?sort=quality").json()["results"]]
    assert by_quality == pytest.approx([0.78, 0.71, 0.55])


def test_the_report_counts_the_pool_and_summarises_the_delivered_scores(api, rendered):
    report = api.get(f"/v1/orders/{rendered['id']}/report").json()
    assert {k: report[k] for k in ("generated", "delivered", "rejected", "gated")} == {
        "generated": 5,
        "delivered": 3,
        "rejected": {"eyes_hidden": 1, "no_face": 1},
        "gated": True,
    }
    assert report["consistency"] == pytest.approx(0.83)
    assert report["likeness"]["mean"] == pytest.approx((0.62 + 0.81 + 0.74) / 3, abs=1e-4)
    assert report["likeness"]["p10"] == pytest.approx(0.644, abs=1e-3)
    assert report["quality"]["mean"] == pytest.approx((0.71 + 0.55 + 0.78) / 3, abs=1e-4)


def test_a_report_before_any_render_is_zeros(api, order):
    report = api.get(f"/v1/orders/{order['id']}/report").json()
    assert report["generated"] == report["delivered"] == 0 and report["rejected"] == {}


def test_more_renders_add_to_the_report(api, rendered):
    from orders.models import Order
    from orders.services import pipeline_events

    order = Order.objects.get(pk=rendered["id"])
    order.quality = pipeline_events.quality.add_render(
        order, events_pb2.QualityReport(generated=2, delivered=1, rejected={"no_face": 1}, gated=True)
    )
    order.save()
    report = api.get(f"/v1/orders/{rendered['id']}/report").json()
    assert (report["generated"], report["delivered"], report["rejected"]["no_face"]) == (7, 4, 2)


def test_grpc_reports_the_same(partner, api):
    stub, auth = partner.stub, partner.auth
    order = stub.CreateOrder(
        pb.CreateOrderRequest(order=pb.Order(package="trial", style_ids=["corporate-navy"])), metadata=auth
    )
    complete_order(order.uid, n=3, scores=SCORES, quality=POOL)
    report = stub.GetOrderReport(pb.GetOrderReportRequest(name=order.name), metadata=auth)
    assert (report.name, report.generated, report.delivered, dict(report.rejected)) == (
        order.name,
        5,
        3,
        {"no_face": 1, "eyes_hidden": 1},
    )
    assert report.gated and report.likeness.mean == pytest.approx((0.62 + 0.81 + 0.74) / 3, abs=1e-4)
    listed = stub.ListHeadshots(
        pb.ListHeadshotsRequest(parent=order.name, order_by="quality_score desc"), metadata=auth
    ).headshots
    assert [h.quality_score for h in listed] == pytest.approx([0.78, 0.71, 0.55])
    assert all(h.gated for h in listed)
