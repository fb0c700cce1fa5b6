"""The chaos run's instruments: what counts as trained twice, the blob-store outage, the PostgreSQL restart."""

from __future__ import annotations

import time
import uuid

import pytest

from headshots_common.blobstore import S3BlobStore, unavailable
from headshots_tools.chaos import FaultSchedule, redone_steps, trained_twice
from headshots_tools.faultproxy import FaultProxy
from headshots_tools.postgres import OwnPostgres
from trainer.training_jobs import Run


def test_resuming_from_the_last_checkpoint_is_not_training_twice():
    runs = [
        Run(1, "a", from_step=0, reached_step=9, outcome="", saved_step=0),  # killed at step 9
        Run(2, "b", from_step=8, reached_step=13, outcome="stalled", saved_step=8),
        Run(3, "c", from_step=12, reached_step=16, outcome="finished", saved_step=12),
    ]
    assert not trained_twice(runs)
    assert redone_steps(runs) == (9 - 8) + (13 - 12)


def test_a_run_that_did_not_resume_what_was_saved_or_a_record_started_over_is_training_twice():
    lost_checkpoint = [Run(1, "a", 0, 9, saved_step=0), Run(2, "b", 0, 16, "finished", saved_step=8)]
    assert trained_twice(lost_checkpoint) and redone_steps(lost_checkpoint) == 9
    record_started_over = [Run(1, "a", 0, 16, "finished"), Run(1, "b", 0, 16, "finished")]
    assert trained_twice(record_started_over)


@pytest.fixture
def s3(s3_server):
    import boto3

    def client(endpoint: str):
        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=s3_server["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=s3_server["AWS_SECRET_ACCESS_KEY"],
            region_name=s3_server["AWS_DEFAULT_REGION"],
        )

    bucket = f"proxy-{uuid.uuid4().hex[:12]}"
    client(s3_server["AWS_ENDPOINT_URL"]).create_bucket(Bucket=bucket)
    host, port = s3_server["AWS_ENDPOINT_URL"].removeprefix("http://").split(":")
    proxy = FaultProxy(host, int(port)).start()
    yield proxy, S3BlobStore(bucket, "p", client=client(proxy.url))
    proxy.stop()


def test_on_a_fast_machine_every_scheduled_fault_still_comes_while_orders_are_in_flight():
    # CI's machine finished 10 orders in about 80 s, before the blob-store outage's 85 s: it never came.
    schedule = FaultSchedule(started=0.0, window_s=120.0)
    fired = []
    for second, done_fraction in [(10, 0.0), (26, 0.1), (41, 0.2), (45, 0.4), (50, 0.5), (52, 0.5), (56, 0.6)]:
        while (name := schedule.due(now=second, done_fraction=done_fraction)) is not None:
            fired.append((name, second))
    assert [name for name, _ in fired] == ["broker restart", "third trainer", "postgres restart", "blob store outage"]
    assert dict(fired)["blob store outage"] == 50, "half the orders final: the outage comes now, not at 85 s"
    assert schedule.due(now=60, done_fraction=0.7) is None, "each comes once until its period is up"
    assert schedule.pending_once() == set()


def test_on_a_slow_machine_the_scheduled_faults_come_at_their_times_and_repeat_in_the_window():
    schedule = FaultSchedule(started=100.0, window_s=400.0)
    assert schedule.due(now=120, done_fraction=0.0) is None
    assert schedule.due(now=125, done_fraction=0.0) == "broker restart"
    assert schedule.due(now=186, done_fraction=0.0) == "third trainer"
    assert schedule.due(now=186, done_fraction=0.0) == "postgres restart"
    assert schedule.due(now=186, done_fraction=0.0) == "blob store outage"
    assert schedule.due(now=300, done_fraction=0.0) is None
    assert schedule.due(now=427, done_fraction=0.0) == "postgres restart", "again 240 s later, in the window"
    assert schedule.due(now=427, done_fraction=0.0) == "blob store outage"
    assert schedule.due(now=700, done_fraction=1.0) is None, "not again after the window (it ended at 500 s)"


def test_the_fault_proxy_passes_everything_through_and_answers_503_during_an_outage(s3):
    proxy, store = s3
    store.put("orders/o1/photos/a.jpg", b"before")  # a kept-alive connection, cut when the outage starts
    proxy.outage(1.5)
    with pytest.raises(Exception) as refused:
        store.get("orders/o1/photos/a.jpg")
    assert unavailable(refused.value), refused.value
    assert proxy.refused >= 1 and proxy.down
    time.sleep(1.6)
    assert store.get("orders/o1/photos/a.jpg") == b"before", "the store is back, and kept what it had"


@pytest.mark.skipif(not OwnPostgres.available(), reason="needs PostgreSQL's initdb and pg_ctl")
def test_the_runs_own_postgresql_restarts_cutting_connections_and_keeping_what_was_committed():
    import psycopg

    server = OwnPostgres().start()
    try:
        with psycopg.connect(server.url, autocommit=True) as before:
            before.execute("CREATE TABLE kept (x int)")
            before.execute("INSERT INTO kept VALUES (1)")
            server.restart(down_s=0.5)
            with pytest.raises(psycopg.OperationalError):
                before.execute("SELECT 1")
        with psycopg.connect(server.url) as after:
            assert after.execute("SELECT x FROM kept").fetchall() == [(1,)]
    finally:
        server.stop()
    assert not server.root.exists()
