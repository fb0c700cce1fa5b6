"""The photo checker as it runs: real processes (gunicorn, the worker's outbox relay, two checkers, the broker), on
SQLite and on PostgreSQL.

Exactly once in effect: photos from several clients at once, more than ten times the one photo a checker takes per
poll, while checkers are killed (SIGKILL) mid-photo and started again, and then every PhotoReceived event delivered
a second time. Each photo ends with one verdict; the order's count, its stored JPEGs and analyses, and its
`order.photos_checked` webhooks each agree with the verdicts; no raw upload is left in quarantine.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from headshots_common import blob_layout
from headshots_common.blobstore import open_blob_store
from headshots_tools.live_gateway import live_gateway, production_database_param
from headshots_tools.localstack import GATEWAY_DIR

pytestmark = pytest.mark.checker_processes

PEOPLE = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "people"
ORDERS, PHOTOS_PER_ORDER = 3, 6  # 18 photos: each checker takes one per poll
KILLS = 3  # checkers killed while they check a photo
ENV = {
    "HEADSHOTS_RATE_LIMIT": "100000/min",
    "HEADSHOTS_ORDER_RATE_LIMIT": "100000/min",
    "HEADSHOTS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "HEADSHOTS_WEBHOOK_BASE_DELAY_S": "3600",  # the receiver is not there: one attempt, then a long wait
}
REPLAY_PHOTO_EVENTS = """
import django; django.setup()
from headshots_common import bus
from outbox.models import OutboxMessage
print(OutboxMessage.objects.filter(topic=bus.PHOTOS_TOPIC).update(sent_at=None))
"""


def _photos() -> list[Path]:
    """One person's accepted and rejected photos: franck's frames (one blurry), and someone else."""
    return sorted((PEOPLE / "franck").glob("*.jpg"))[: PHOTOS_PER_ORDER - 1] + [PEOPLE / "joe-biden" / "biden.jpg"]


# One database: the production one where it answers (CI has one), else SQLite. The guarantee is the checkers' and
# the broker's; running it on both doubled its minute and a half in the suite.
@pytest.fixture(params=production_database_param())
def gateway(request, tmp_path, own_broker):
    # A broker of its own: after checkers are killed mid-photo, the local broker (Tansu) can leave the consumer
    # group rebalancing for good (each SyncGroup "failed due to coordinator rebalance"), which would stall every
    # later module's checker on a shared broker.
    with live_gateway(tmp_path, request.param, {**ENV, "HEADSHOTS_KAFKA_BOOTSTRAP": own_broker.bootstrap}) as live:
        live.key = live.manage("partner", "create", "checker").strip()
        live.start_worker()
        yield live


def _headers(gateway) -> dict:
    return {"Authorization": f"Bearer {gateway.key}"}


def _photos_of(gateway, order_id: str) -> list[dict]:
    response = requests.get(f"{gateway.http}/v1/orders/{order_id}/photos", headers=_headers(gateway), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def _wait_until_checked(gateway, order_ids: list[str], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while any(p["state"] == "checking" for o in order_ids for p in _photos_of(gateway, o)):
        assert time.monotonic() < deadline, "photos still checking:\n" + gateway.log()[-4000:]
        time.sleep(0.5)


def _settled(gateway, order_ids: list[str]) -> dict:
    """What each order holds once checked: verdicts, counts, blobs, webhooks."""
    store = open_blob_store(gateway.env["HEADSHOTS_BLOB_URL"])
    state = {}
    for order_id in order_ids:
        photos = _photos_of(gateway, order_id)
        order = requests.get(f"{gateway.http}/v1/orders/{order_id}", headers=_headers(gateway), timeout=30).json()
        deliveries = requests.get(
            f"{gateway.http}/v1/orders/{order_id}/webhook-deliveries", headers=_headers(gateway), timeout=30
        ).json()["results"]
        announced = [d["payload"]["data"] for d in deliveries if d["event_type"] == "order.photos_checked"]
        state[order_id] = {
            "verdicts": sorted((p["id"], p["state"], p["reason_code"]) for p in photos),
            "photos_accepted": order["counts"]["photos_accepted"],
            "blobs": sorted(store.list(blob_layout.order_prefix(order_id))),
            "announced": [(a["accepted"], a["rejected"]) for a in announced],
        }
    return state


def _checks(gateway) -> list[str]:
    """Every photo a checker started checking, as often as it did."""
    found = []
    for name in ("photo-checker", "photo-checker-2"):
        if gateway.checker_log(name).exists():
            found += re.findall(
                r"checking photo ([0-9a-f-]{36})", gateway.checker_log(name).read_text(errors="replace")
            )
    return found


def test_each_photo_gets_one_verdict_with_checkers_killed_mid_photo_and_events_delivered_twice(gateway):
    checkers = {name: gateway.start_checker(name) for name in ("photo-checker", "photo-checker-2")}
    orders = [
        requests.post(
            f"{gateway.http}/v1/orders",
            json={"package": "trial", "styles": ["tech-grey"], "webhook_url": "http://127.0.0.1:9/hooks"},
            headers=_headers(gateway),
            timeout=30,
        ).json()["id"]
        for _ in range(ORDERS)
    ]
    photos = _photos()

    def upload(job: tuple[str, Path]) -> int:
        order_id, photo = job
        response = requests.post(
            f"{gateway.http}/v1/orders/{order_id}/photos",
            files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
            headers={**_headers(gateway), "Prefer": "respond-async"},
            timeout=60,
        )
        return response.status_code

    killed: list[str] = []  # photos whose checker was killed while it checked them

    def kill_checkers_mid_photo() -> None:  # as a node failure would; the supervisor (here: the test) restarts them
        unmatched = dict.fromkeys(checkers, 0)
        deadline = time.monotonic() + 240
        while len(killed) < KILLS and time.monotonic() < deadline:
            for name in checkers:
                log = (
                    gateway.checker_log(name).read_text(errors="replace") if gateway.checker_log(name).exists() else ""
                )
                started = re.findall(r"checking photo ([0-9a-f-]{36})", log)
                if len(started) - len(re.findall(r"photo [0-9a-f-]{36}: ", log)) > unmatched[name]:
                    checkers[name].send_signal(signal.SIGKILL)
                    checkers[name].wait()
                    gateway.processes.pop(name)
                    killed.append(started[-1])
                    unmatched[name] += 1
                    checkers[name] = gateway.start_checker(name)
            time.sleep(0.01)

    killer = threading.Thread(target=kill_checkers_mid_photo)
    killer.start()
    jobs = [(order_id, photo) for order_id in orders for photo in photos]
    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(upload, jobs)) == {202}
    killer.join()
    _wait_until_checked(gateway, orders)
    first = _settled(gateway, orders)

    checks = _checks(gateway)
    assert len(killed) == KILLS and all(checks.count(photo) >= 2 for photo in killed), (killed, checks)
    for order_id, held in first.items():
        states = [state for _, state, _ in held["verdicts"]]
        assert len(states) == PHOTOS_PER_ORDER and "checking" not in states, held
        accepted = states.count("accepted")
        assert held["photos_accepted"] == accepted, "a verdict was counted twice"
        assert states.count("rejected") >= 1  # someone else's photo among them
        assert (
            sum(a for a, _ in held["announced"]) == accepted
            and sum(r for _, r in held["announced"]) == len(states) - accepted
        ), "each verdict is announced once"
        ids = {photo_id for photo_id, state, _ in held["verdicts"] if state == "accepted"}
        jpegs = {blob_layout.photo_key(order_id, i) for i in ids}
        assert set(held["blobs"]) == jpegs | {blob_layout.photo_analysis_key(k) for k in jpegs}, (
            "exactly the accepted photos' JPEGs and analyses, and no raw upload, are left"
        )

    env = dict(gateway.env, DJANGO_SETTINGS_MODULE="gateway.settings")
    replay = [sys.executable, "-c", REPLAY_PHOTO_EVENTS]
    replayed = subprocess.run(replay, cwd=GATEWAY_DIR, env=env, check=True, capture_output=True, text=True)
    assert int(replayed.stdout.strip()) == ORDERS * PHOTOS_PER_ORDER
    deadline = time.monotonic() + 120
    while len(_checks(gateway)) < len(checks) + len(jobs):
        assert time.monotonic() < deadline, "the events delivered again were not read:\n" + gateway.log()[-3000:]
        time.sleep(0.5)
    time.sleep(2)
    assert _settled(gateway, orders) == first, "a second delivery changed something"
