"""A small chaos run (`make chaos` runs 40 orders and more): processes killed at random, the broker restarted,
a trainer joining mid-run, orders deleted at chosen stages; nothing lost, nothing trained twice, nothing left."""

from __future__ import annotations

import pytest

from headshots_tools.chaos import ChaosRun

pytestmark = pytest.mark.e2e


def test_a_small_chaos_run_loses_nothing_trains_nothing_twice_and_leaves_nothing(tmp_path, stack_database):
    report = ChaosRun(
        orders=10, seed=2026, var_dir=tmp_path / "stack", timeout_s=600, fault_every_s=8, extra_env=stack_database
    ).run()
    detail = {k: report[k] for k in ("faults", "restarts", "failure_reasons", "deleted_by_stage", "events")}
    assert report["lost"] == 0, detail
    assert report["trained_twice"] == 0, detail
    assert report["deleted_leftovers"] == 0, detail
    assert report["completed"] + report["failed"] + report["deleted"] == 10
    assert report["faults"].get("broker restart") == 1 and len(report["faults"]) >= 3, "the faults came"
    assert report["deleted"] == 2 and report["replicas_seen"] == 2
    assert report["cache_purges_reported"] >= 2, "every replica reported what it dropped of deleted orders"
