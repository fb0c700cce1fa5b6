"""Writes of the workers app: the worker's beat."""

from django.utils import timezone

from workers.models import WorkerBeat


def record_beat(name: str) -> None:
    WorkerBeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})
