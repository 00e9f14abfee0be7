"""How an order ends otherwise than shipped: what was done is compensated (a refund), the ending
is recorded, and the database's answer (an ending already recorded, a package already handed
over) decides what the order's ending is."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.order_activities import OrderActivities
    from workflows.activity_io import FinishInput, RefundInput, ReviewInput
    from workflows.model import OrderState, PaymentStatus
    from workflows.order_run import OrderEnded
    from workflows.order_shipping import OrderShipping
    from workflows.patches import (
        DECISION_RECORDED_BEFORE_ENDING,
        ENDING_REFUSED_SHIPS,
        REFUND_ASKS_THE_DATABASE,
        REFUND_REFUSED_SHIPS,
    )


class OrderEnding(OrderShipping):
    """Mixed into OrderWorkflow: its process ends here when a step raises OrderEnded. On
    OrderShipping, for an ending the database refuses because the carrier has the package."""

    async def _end(self, ended: OrderEnded) -> None:
        """Compensate what was done, then record the ending."""
        self._write_state_attribute()  # winding up can take more than this workflow task
        self._ending = ended.state
        self._failure_reason = ended.reason
        await self._books.audit_owed_first()
        if self._decision_unrecorded() and self._patched(DECISION_RECORDED_BEFORE_ENDING):
            # Accepted, then overtaken by an ending the order reached otherwise (say it failed
            # validation after an early approval): still the operator's decision, on record.
            self._decision_recorded = True
            await self._steps.bookkeeping(
                OrderActivities.record_decision, ReviewInput(order_id=self._order.order_id, decision=self._decision)
            )
        if self._payment.status == PaymentStatus.CHARGED or self._may_have_been_charged_unseen():
            self._step = "refunding payment"
            self._payment = await self._steps.bookkeeping(
                OrderActivities.refund_payment,
                RefundInput(order_id=self._order.order_id, payment_id=self._order.payment_id, reason=ended.reason),
            )
            if self._payment.status == PaymentStatus.CHARGED and self._patched(REFUND_REFUSED_SHIPS):
                await self._ship_after_all("refund_refused")
                return
        self._step = "recording outcome"
        self._finished = await self._steps.bookkeeping(
            OrderActivities.finish_order,
            FinishInput(
                order_id=self._order.order_id,
                state=ended.state,
                event_type=f"order_{ended.state.value.lower()}",
                reason=ended.reason,
            ),
        )
        if self._finished.payment is not None:  # as the ending left it: a charge this run never saw, refunded
            self._payment = self._finished.payment
        if self._finished.state == OrderState.DISPATCHED and self._patched(ENDING_REFUSED_SHIPS):
            # The carrier has the package (handed over before a reset of this workflow, say): the
            # database keeps the row DISPATCHED, and the order ships.
            await self._ship_after_all("ending_refused")
            return
        state = ended.state
        recorded = self._finished.state
        if recorded is not None and recorded != state:
            # An earlier try of this workflow task recorded another ending, and the server refused
            # that try's completion because a command arrived meanwhile; this run applied the
            # command first. The database's ending (the first recorded) is the order's.
            workflow.logger.warning(
                "event=ending_already_recorded order_id=%s wanted=%s recorded=%s",
                self._order.order_id, state.value, recorded.value,
            )
            state = recorded
        if recorded is not None:
            self._failure_reason = self._finished.reason or ""
        if self._cancel_reason is not None and self._cancel_outcome is None:
            self._cancel_outcome = (
                "cancelled"
                if state == OrderState.CANCELLED
                else f"Order {self._order.order_id} ended {state.value} before the cancel took effect."
            )
        self._transition(state, "done")

    def _may_have_been_charged_unseen(self) -> bool:
        """Approved, yet this run saw no charge: a try of the workflow task that was lost may
        have charged the order before it ended; RefundPayment answers from the database (it
        refunds nothing the order was not charged). Asked only on this path."""
        approved = self._decision is not None and self._decision.approved
        unseen = approved and not self._charge_answered and self._payment.status == PaymentStatus.PENDING
        return unseen and self._patched(REFUND_ASKS_THE_DATABASE)

    async def _ship_after_all(self, refused: str) -> None:
        """The refund or the ending was refused (``refused``): the carrier has the package (a
        hand-over the shipping child could not report, say its last attempt was cut off after
        the commit, or one from before a reset). The order ships."""
        wanted = self._ending.value if self._ending else ""
        workflow.logger.warning("event=%s_order_ships order_id=%s wanted=%s", refused, self._order.order_id, wanted)
        self._ending = None
        self._failure_reason = ""
        self._handed_over()
        await self._mark_shipped()
