from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from orders.models import Order
        from orders.selectors import forget_order_status

        # Any saved change to an order clears its cached status.
        post_save.connect(lambda sender, instance, **kw: forget_order_status(instance), sender=Order, weak=False)
        post_delete.connect(lambda sender, instance, **kw: forget_order_status(instance), sender=Order, weak=False)
