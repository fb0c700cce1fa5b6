"""torch's thread count on a worker comes from the container's CPU quota (cgroup v2 or v1), not from the node's
CPUs: torch's default on a node shared with other pods runs more threads than the quota pays for."""

from __future__ import annotations

import os

import pytest

from trainer.threads import TorchThread, cpu_quota, torch_threads


def cgroup_v2(tmp_path, cpu_max: str):
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    return tmp_path


def cgroup_v1(tmp_path, quota_us: int, period_us: int = 100000):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota_us}\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(f"{period_us}\n")
    return tmp_path


CPUS = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    "make, expected_quota, expected_threads",
    [
        (lambda p: cgroup_v2(p, "100000 100000"), 1.0, 1),
        (lambda p: cgroup_v2(p, "50000 100000"), 0.5, 1),  # half a CPU still gets a thread
        (lambda p: cgroup_v2(p, "max 100000"), None, CPUS),  # no quota: the CPUs the process may run on
        (lambda p: cgroup_v1(p, 100000), 1.0, 1),
        (lambda p: cgroup_v1(p, -1), None, CPUS),
        (lambda p: p, None, CPUS),  # no cgroup files at all
    ],
)
def test_threads_follow_the_cpu_quota(tmp_path, make, expected_quota, expected_threads):
    cgroup = make(tmp_path)
    assert cpu_quota(cgroup) == expected_quota
    assert torch_threads(0, cgroup) == expected_threads


def test_a_quota_above_the_cpus_the_process_may_use_is_capped_and_the_setting_wins(tmp_path):
    cgroup = cgroup_v2(tmp_path, f"{(CPUS + 3) * 100000} 100000")
    assert torch_threads(0, cgroup) == CPUS
    assert torch_threads(3, cgroup) == 3


def test_the_torch_thread_runs_every_call_on_one_thread_with_its_count():
    import threading

    import torch

    worker = TorchThread(1)
    try:
        seen = {worker.call(lambda: (threading.get_ident(), torch.get_num_threads())) for _ in range(3)}
        assert seen == {(worker.ident, 1)}
        with pytest.raises(ValueError, match="boom"):
            worker.call(lambda: (_ for _ in ()).throw(ValueError("boom")))
        assert worker.call(lambda: 7) == 7, "a failed call leaves the thread serving"
    finally:
        worker.close()
