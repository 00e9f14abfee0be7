"""The order worker: OrderWorkflow and its activities on task queue order-tq."""

from activities.order_activities import OrderActivities
from workers.runner import main, run_worker
from workflows.model import ORDER_TASK_QUEUE
from workflows.order import OrderWorkflow


async def run() -> None:
    await run_worker(
        name="order-worker",
        task_queue=ORDER_TASK_QUEUE,
        workflows=[OrderWorkflow],
        activities=lambda pool: OrderActivities(pool).all(),
    )


if __name__ == "__main__":
    main(run())
