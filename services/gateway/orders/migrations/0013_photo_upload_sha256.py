from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0012_order_test_mode"),
    ]

    operations = [
        migrations.AddField(
            model_name="photo", name="upload_sha256", field=models.CharField(blank=True, default="", max_length=64)
        ),
    ]
