"""What a create answers: the order it started (CreatedOrder) or, for an order id that exists
already, the first create's answer again when this is the same order (a client's retry), else
OtherContent saying what differs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from activities import rules
from app.errors import Taken
from app.service.temporal_errors import QUERY_TIMEOUT
from app.waiting import within
from workflows.model import Address, OrderInput, OrderItem, OrderState, order_workflow_id

log = logging.getLogger("app.service")


class OtherContent(Taken):
    """The order id exists with other content (``differs``: what, in words), so this create is
    not a retry of the one that made it."""

    def __init__(self, order_id: str, differs: list[str]) -> None:
        # "different items and a different address", not "different address".
        self.said = " and ".join("different items" if name == "items" else f"a different {name}" for name in differs)
        super().__init__(f"Order {order_id} already exists with {self.said}; choose another order id.")


@dataclass
class CreatedOrder:
    order_id: str
    workflow_id: str
    payment_id: str
    amount_cents: int
    note: str = ""  # a warning for the operator, say that the carrier does not deliver there
    state: str = OrderState.RECEIVED.value
    # A create repeated (a client's retry whose answer was lost): the order with this id and
    # this content existed already, and nothing was started.
    already_created: bool = False


class CreatedAlready:
    """Part of OrderService (app.service), which mixes it in: the answer to a create of an order
    id that exists (OrderCreation.create_order finds it so)."""

    def _created_already(
        self, order_id: str, first: "_Content | None", given: "_Content", products: dict[str, int], row: Any = None
    ) -> CreatedOrder:
        """The answer to a create of an order that exists: the first create's answer if this one
        is the same order (items, address and payment id, normalised as a create normalises
        them), else Taken saying what differs. ``first``: what the order was started with (a
        later address change is no difference), or, once Temporal has forgotten it, its row."""
        if first is None:  # Temporal did not say, and there is no row to go by
            raise Taken(
                f"Order {order_id} already exists, and Temporal did not say with what content; see it with"
                f" ./start.sh order status {order_id}."
            )
        if differs := first.differences(given):
            raise OtherContent(order_id, differs)
        log.info("event=order_already_created order_id=%s", order_id)
        return CreatedOrder(
            order_id=order_id,
            workflow_id=order_workflow_id(order_id),
            payment_id=first.payment_id,
            amount_cents=row["amount_cents"] if row is not None else sum(
                products.get(sku, 0) * quantity for sku, quantity in first.items
            ),
            note=rules.carrier_note(first.address) or "",
            state=row["state"] if row is not None else OrderState.RECEIVED.value,
            already_created=True,
        )

    async def _started_order(self, order_id: str) -> "_Content | None":
        """What the order's workflow was started with (its first event's input), or None if
        Temporal does not have it or does not say within QUERY_TIMEOUT."""

        async def first_input() -> _Content | None:
            async for event in self._handle(order_id).fetch_history_events(page_size=1, rpc_timeout=QUERY_TIMEOUT):
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                [started] = await self.client.data_converter.decode(payloads, [OrderInput])
                # OrderInput fills in the default payment id, as the first create's answer gave it.
                return _Content.of(started.items, started.address, started.payment_id, started.review_window_seconds)
            return None

        try:
            return await within(first_input(), QUERY_TIMEOUT.total_seconds())
        except Exception as error:  # unknown: the reservation stays, as for a start not answered
            log.warning("event=started_order_unknown order_id=%s error=%r", order_id, error)
            return None


@dataclass(frozen=True)
class _Content:
    """What makes two creates of one id the same order, normalised as a create normalises it."""

    items: tuple[tuple[str, int], ...]
    address: Address
    payment_id: str  # the effective one: the default pay-<order id> if none was given
    # The effective one too (the default if none was given); None when not known: the row has none.
    review_window_seconds: float | None = None

    @classmethod
    def of(
        cls, items: list[OrderItem], address: Address, payment_id: str, review_window_seconds: float | None = None
    ) -> "_Content":
        return cls(
            items=tuple(sorted((item.sku.strip().upper(), item.quantity) for item in items)),
            address=rules.normalise_entered_address(address),
            payment_id=payment_id.strip(),
            review_window_seconds=review_window_seconds,
        )

    @classmethod
    def of_row(cls, row: Any) -> "_Content":
        """As the order's row has it (its address the latest, if it changed since)."""
        items = [OrderItem(sku=item["sku"], quantity=item["quantity"]) for item in row["items_json"]]
        address = Address(**{field: row["address_json"].get(field) or "" for field in Address.__dataclass_fields__})
        return cls.of(items, address, row["payment_id"])

    def differences(self, other: "_Content") -> list[str]:
        named = (("items", self.items, other.items), ("address", self.address, other.address),
                 ("payment id", self.payment_id, other.payment_id))
        differs = [name for name, mine, theirs in named if mine != theirs]
        if None not in (self.review_window_seconds, other.review_window_seconds):
            if self.review_window_seconds != other.review_window_seconds:
                differs.append("review window")
        return differs


def _taken(order_id: str) -> str:
    return f"Order {order_id} already exists; choose another order id."
