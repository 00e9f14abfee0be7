"""Activities of the shipping worker (task queue shipping-tq): the steps of ShippingWorkflow."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities import business
from activities.business import FlakyCall
from activities.flaky import flaky_call
from db import orders as orders_db
from workflows.activity_io import Dispatch, DispatchInput, Handover, HandoverInput, Package, PackageInput


class ShippingActivities:
    def __init__(self, pool: asyncpg.Pool, flaky: FlakyCall = flaky_call) -> None:
        self._pool = pool
        self._flaky = flaky

    @activity.defn(name="PreparePackage")
    async def prepare_package(self, input: PackageInput) -> Package:
        return await business.package_prepared(self._pool, self._flaky, input)

    @activity.defn(name="DispatchCarrier")
    async def dispatch_carrier(self, input: DispatchInput) -> Dispatch:
        return await business.carrier_dispatched(self._pool, self._flaky, input)

    @activity.defn(name="HandoverStatus")
    async def handover_status(self, input: HandoverInput) -> Handover:
        """A read, not a business step (no side effect, so no flaky dependency): whether the
        carrier has the package, asked before the child reports a failed dispatch."""
        # Under the row lock: a hand-over still committing (its attempt cut off) is waited for.
        async with self._pool.acquire() as conn, conn.transaction():
            row = await orders_db.lock_for_handover(conn, input.order_id, workflow_id=None)  # a read
        tracking = row["tracking_number"] if row is not None else ""
        info = activity.info()
        return Handover(
            dispatched=bool(tracking), tracking_number=tracking, attempt=info.attempt, ran_locally=info.is_local,
            begun_by_a_lost_task=input.begun_by_a_lost_task,
        )

    def all(self) -> list:
        return [self.prepare_package, self.dispatch_carrier, self.handover_status]
