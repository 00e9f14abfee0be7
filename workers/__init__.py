"""Process entry points, one per task queue: ``python -m workers.order_worker`` and
``python -m workers.shipping_worker``. Run more of them, on more machines, to scale out."""
