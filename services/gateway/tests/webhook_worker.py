"""The gateway worker's webhook loop in a process of its own, for the tests that run several at once.

Usage: python webhook_worker.py, with DATABASE_URL and the HEADSHOTS_WEBHOOK_* settings in the environment.
It prints "ready" once connected, sends until SIGTERM, lets what is in flight finish, then prints one JSON
line: {"claimed": how many deliveries this process claimed}.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # services/gateway
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

import django

django.setup()

from django.db import connection  # noqa: E402

from webhooks.delivery import DeliveryPool  # noqa: E402
from workers.loops import run_webhooks  # noqa: E402


class CountingPool(DeliveryPool):
    claimed = 0

    def start_due(self) -> int:
        started = super().start_due()
        self.claimed += started
        return started


stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
connection.ensure_connection()
print("ready", flush=True)
pool = CountingPool()
run_webhooks(stop, pool=pool)
print(json.dumps({"claimed": pool.claimed}), flush=True)
