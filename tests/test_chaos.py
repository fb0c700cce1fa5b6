"""A small chaos run (`make chaos` runs 40 orders and more): processes killed or paused at random, the broker,
PostgreSQL and the blob store taken away for a while, a trainer joining mid-run, orders deleted at chosen stages;
nothing lost, nothing trained twice, nothing left, every running replica's purge reported."""

from __future__ import annotations

import pytest

from headshots_tools.chaos import ChaosRun, passed
from headshots_tools.postgres import OwnPostgres

pytestmark = pytest.mark.e2e


def test_a_small_chaos_run_loses_nothing_trains_nothing_twice_and_leaves_nothing(tmp_path, stack_database):
    report = ChaosRun(
        orders=8, seed=2026, var_dir=tmp_path / "stack", timeout_s=600, fault_every_s=8, extra_env=stack_database
    ).run()
    detail = {k: report[k] for k in ("faults", "restarts", "failure_reasons", "deleted_by_stage", "events")}
    assert report["lost"] == 0, detail
    assert report["trained_twice"] == 0, detail
    assert report["deleted_leftovers"] == 0, detail
    assert report["missing_purge_reports"] == 0, detail
    assert passed(report)
    assert report["completed"] + report["failed"] + report["deleted"] == 8
    faults = report["faults"]
    assert faults.get("broker restart") == 1 and faults.get("blob store outage") == 1 and len(faults) >= 4, faults
    assert report["blob_requests_refused"] > 0, "the blob-store outage met requests"
    if OwnPostgres.available():
        assert faults.get("postgres restart") == 1, faults
    assert report["deleted"] == 2 and report["replicas_seen"] == 2
    assert report["cache_purges_reported"] >= 2, "every replica reported what it dropped of deleted orders"
