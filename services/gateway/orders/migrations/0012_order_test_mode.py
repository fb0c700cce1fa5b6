"""Orders say whether they are test orders (`Order.test_mode`): set for those the old query called test orders."""

from django.db import migrations, models
from django.db.models import Q


def mark_test_orders(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Order.objects.filter(Q(tenant__test_mode=True) | Q(membership__team__owner__test_mode=True)).update(test_mode=True)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0011_order_render_look"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.AddField(model_name="order", name="test_mode", field=models.BooleanField(default=False)),
        migrations.RunPython(mark_test_orders, migrations.RunPython.noop),
    ]
