from django.apps import AppConfig


class CheckerConfig(AppConfig):
    """The photo checker (`manage.py run_photo_checker`): checks each uploaded photo off the request path."""

    name = "checker"
