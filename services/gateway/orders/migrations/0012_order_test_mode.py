"""Orders say whether they are test orders (`Order.test_mode`): set for those the old query called test orders, and
written into every order's stored status document, which GET /v1/orders/{id} serves as it is."""

import json

from django.db import migrations, models
from django.db.models import Q


def mark_test_orders(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Order.objects.filter(Q(tenant__test_mode=True) | Q(membership__team__owner__test_mode=True)).update(test_mode=True)
    batch = []
    for order in Order.objects.only("id", "status_json", "test_mode").iterator(chunk_size=1000):
        document = json.loads(order.status_json or "{}")
        if document:
            document["test_mode"] = order.test_mode
            order.status_json = json.dumps(document, separators=(",", ":"))
            batch.append(order)
        if len(batch) >= 1000:
            Order.objects.bulk_update(batch, ["status_json"])
            batch = []
    Order.objects.bulk_update(batch, ["status_json"])


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0011_order_render_look"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.AddField(model_name="order", name="test_mode", field=models.BooleanField(default=False)),
        migrations.RunPython(mark_test_orders, migrations.RunPython.noop),
    ]
