import urllib.parse

from django.db import migrations, models


def fill_hosts(apps, schema_editor):
    """The host of every delivery still to be sent, as `destinations.host_of` writes it."""
    WebhookDelivery = apps.get_model("webhooks", "WebhookDelivery")
    for delivery in WebhookDelivery.objects.filter(state="pending").only("id", "url").iterator():
        host = (urllib.parse.urlsplit(delivery.url).hostname or "").rstrip(".")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
        WebhookDelivery.objects.filter(pk=delivery.pk).update(host=host)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_trace_context"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="host",
            field=models.CharField(default="", max_length=255),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="claimed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fill_hosts, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                fields=["state", "tenant", "host", "next_attempt_at"], name="webhook_due_by_destination"
            ),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("claimed_until__isnull", False)), fields=["claimed_until"], name="webhook_in_flight"
            ),
        ),
    ]
