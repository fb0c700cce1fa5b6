from django.apps import AppConfig


class WorkersConfig(AppConfig):
    """The gateway's background loops (`manage.py run_worker`): outbox relay, pipeline events, webhooks, retention."""

    name = "workers"
