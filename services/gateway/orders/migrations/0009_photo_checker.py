from django.db import migrations, models


class Migration(migrations.Migration):
    """Photos are checked off the request path: each row starts `checking` (rows from before were all accepted)."""

    dependencies = [("orders", "0008_receipt_counts_and_cache_holders")]

    operations = [
        migrations.AddField(
            model_name="photo",
            name="state",
            field=models.CharField(
                choices=[
                    ("uploading", "Uploading"),
                    ("checking", "Checking"),
                    ("accepted", "Accepted"),
                    ("rejected", "Rejected"),
                ],
                default="accepted",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="photo",
            name="state",
            field=models.CharField(
                choices=[
                    ("uploading", "Uploading"),
                    ("checking", "Checking"),
                    ("accepted", "Accepted"),
                    ("rejected", "Rejected"),
                ],
                default="checking",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="photo", name="blob_key", field=models.CharField(blank=True, default="", max_length=300)
        ),
        migrations.AlterField(model_name="photo", name="width", field=models.PositiveIntegerField(default=0)),
        migrations.AlterField(model_name="photo", name="height", field=models.PositiveIntegerField(default=0)),
        migrations.AlterField(
            model_name="photo", name="sha256", field=models.CharField(blank=True, default="", max_length=64)
        ),
        migrations.AddField(
            model_name="photo",
            name="quarantine_key",
            field=models.CharField(blank=True, default="", max_length=300),
        ),
        migrations.AddField(model_name="photo", name="face", field=models.JSONField(default=dict)),
        migrations.AddField(
            model_name="photo", name="reason_code", field=models.CharField(blank=True, default="", max_length=64)
        ),
        migrations.AddField(
            model_name="photo", name="message", field=models.CharField(blank=True, default="", max_length=500)
        ),
        migrations.AddField(
            model_name="photo", name="upload_expires_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(model_name="photo", name="received_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="photo", name="checked_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="photo", name="announced", field=models.BooleanField(default=True)),
        migrations.AlterField(model_name="photo", name="announced", field=models.BooleanField(default=False)),
        migrations.AddIndex(
            model_name="photo",
            index=models.Index(fields=["state", "received_at"], name="photo_state_received_idx"),
        ),
        migrations.AddField(model_name="order", name="photo_states", field=models.JSONField(default=list)),
    ]
