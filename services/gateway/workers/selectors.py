"""Reads of the workers app: how long ago the worker last beat."""

from __future__ import annotations

from django.utils import timezone

from workers.models import WorkerBeat

GATEWAY_WORKER = "gateway-worker"  # `manage.py run_worker`: its beat's name, its heartbeat file's


def seconds_since_beat(name: str) -> float | None:
    """None when that worker never ran against this database (a fresh install, or none deployed yet)."""
    beat = WorkerBeat.objects.filter(name=name).first()
    return None if beat is None else (timezone.now() - beat.beat_at).total_seconds()
