"""The partners' error catalogue (docs/partners/errors.md) lists every code the gateway raises, as generated from its
code by `python -m headshots_tools.error_catalogue`."""

from __future__ import annotations

import shutil
from pathlib import Path

from headshots_tools import error_catalogue


def test_every_code_the_gateway_raises_is_in_the_catalogue():
    found = error_catalogue.scan()
    assert found.unresolved == [], "domain errors whose code is not a literal cannot be catalogued"
    listed = error_catalogue.listed_codes(error_catalogue.CATALOGUE.read_text())
    missing = found.codes() - listed
    assert not missing, f"raised but not in docs/partners/errors.md: {sorted(missing)}"
    assert error_catalogue.CATALOGUE.read_text() == error_catalogue.render(found), (
        "docs/partners/errors.md is stale: python -m headshots_tools.error_catalogue"
    )
    # The codes partners meet most, with the statuses the edges map them to.
    lines = error_catalogue.CATALOGUE.read_text().splitlines()
    rows = {line.split("|")[1].strip(" `"): line for line in lines if line.startswith("| `")}
    assert "| 409 | FAILED_PRECONDITION |" in rows["idempotency_key_reused"]
    assert "| 429 | RESOURCE_EXHAUSTED |" in rows["quota_exceeded"]
    assert "| 404 | NOT_FOUND |" in rows["not_found"]


def test_a_new_code_is_found_and_a_computed_one_is_refused(tmp_path):
    """The scanner sees a code raised in a module it has never seen, and will not guess a code built at run time."""
    gateway = tmp_path / "gateway_copy"
    for part in ("gateway/errors.py", "gateway/rest_errors.py", "partner_grpc/status.py"):
        (gateway / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(error_catalogue.GATEWAY / part, gateway / part)
    (gateway / "orders").mkdir()
    Path(gateway / "orders" / "services.py").write_text(
        "from gateway import errors\n"
        "from gateway.errors import Conflict\n\n"
        "def cancel(order, reason):\n"
        "    if order.shipped:\n"
        "        raise Conflict('order_shipped', f'the order shipped on {order.shipped}')\n"
        "    raise errors.InvalidArgument(reason, 'no')\n"
    )
    found = error_catalogue.scan(gateway)
    shipped = [e for e in found.emissions if e.code == "order_shipped"]
    assert [(e.http, e.grpc, e.message) for e in shipped] == [
        ("409", "FAILED_PRECONDITION", "the order shipped on {order.shipped}")
    ]
    assert "order_shipped" not in error_catalogue.listed_codes(error_catalogue.CATALOGUE.read_text())
    assert found.unresolved == ["orders/services.py:7"]
