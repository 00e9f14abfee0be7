"""Activities of the shipping worker (task queue shipping-tq): the steps of ShippingWorkflow."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities import business
from activities.business import FlakyCall
from activities.flaky import flaky_call
from workflows.model import Dispatch, DispatchInput, Package, PackageInput


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

    def all(self) -> list:
        return [self.prepare_package, self.dispatch_carrier]
