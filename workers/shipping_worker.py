"""The shipping worker: ShippingWorkflow and its activities on task queue shipping-tq."""

from activities.shipping_activities import ShippingActivities
from workers.runner import main, run_worker
from workflows.model import SHIPPING_TASK_QUEUE
from workflows.shipping import ShippingWorkflow


async def run() -> None:
    await run_worker(
        name="shipping-worker",
        task_queue=SHIPPING_TASK_QUEUE,
        workflows=[ShippingWorkflow],
        activities=lambda pool: ShippingActivities(pool).all(),
    )


if __name__ == "__main__":
    main(run())
