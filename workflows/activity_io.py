"""The wire format of the activities: each step's input and result, as workflows send them
and activities answer (see workflows/model.py for the order's own). Nothing here does I/O.

Like the model, these dataclasses are stored in workflow histories: they evolve by adding
fields with defaults.
"""

from dataclasses import dataclass, field

from workflows.model import Address, Decision, OrderInput, OrderItem, OrderState, Payment


@dataclass
class ReceiveOrderInput:
    order: OrderInput
    workflow_id: str
    started_at: str  # the workflow's start: processing time counts from here
    # The run chain that stores the order owns it (workflow.info().first_execution_run_id, which
    # a reset and a retry keep; activity.info() does not carry it): another chain, started by
    # hand under the same workflow id once the order's own had closed, is refused. "": not said.
    first_run_id: str = ""


@dataclass
class ReceivedOrder:
    """What ReceiveOrder persisted: the priced order."""

    amount_cents: int
    created_at: str


@dataclass
class ValidateOrderInput:
    order_id: str
    items: list[OrderItem]
    address: Address


@dataclass
class ChargePaymentInput:
    order_id: str
    payment_id: str
    amount_cents: int


@dataclass
class RefundInput:
    order_id: str
    payment_id: str
    reason: str


@dataclass
class PackageInput:
    order_id: str
    items: list[OrderItem]
    # The workflow whose order it is (the parent): no other may write to the order's row. Empty
    # in steps scheduled before this field: not checked.
    order_workflow_id: str = ""


@dataclass
class Package:
    package_id: str


@dataclass
class DispatchInput:
    order_id: str
    package_id: str
    address: Address
    # The child heard of a cancel: hand nothing over, but report a hand-over already made.
    call_off: bool = False
    order_workflow_id: str = ""  # as in PackageInput


@dataclass
class Dispatch:
    tracking_number: str
    carrier: str


@dataclass
class HandoverInput:
    order_id: str
    # The child asked while replaying: a workflow task that was lost (its worker killed, say)
    # began this check and never recorded its answer. Echoed in Handover, so that the answer,
    # recorded in the history, carries it (a replay never compares a local activity's input).
    begun_by_a_lost_task: bool = False


@dataclass
class Handover:
    """What the database says of the hand-over to the carrier."""

    dispatched: bool
    tracking_number: str = ""
    attempt: int = 1  # of the read itself: above 1, the database did not answer at first
    ran_locally: bool = True  # False: the read ran out of local attempts (policies) first
    begun_by_a_lost_task: bool = False  # HandoverInput's, echoed

    @property
    def database_was_down(self) -> bool:
        """The read itself had to be retried: the dispatch attempts met the same outage."""
        return self.attempt > 1 or not self.ran_locally


@dataclass
class MarkShippedInput:
    order_id: str
    tracking_number: str


@dataclass
class AddressChange:
    order_id: str
    sequence: int  # the n-th change of this order: the event's idempotency key
    address: Address
    by: str = "operator"
    # When the operator sent it (ISO 8601, set by the client), as Decision.decided_at: kept in
    # its audit event, which may be written much later. Empty: when it is recorded.
    decided_at: str = ""


@dataclass
class FinishInput:
    """A terminal state other than SHIPPED."""

    order_id: str
    state: OrderState
    event_type: str
    reason: str = ""


@dataclass
class ReviewInput:
    order_id: str
    review_window_seconds: float = 0
    decision: Decision | None = None  # RecordDecision


@dataclass
class Finished:
    """Timings of a finished order, measured by the database's clock: workflow time stands
    still while local activities run, so it cannot measure them."""

    processing_ms: int
    review_ms: int
    # FinishOrder: the ending the database holds. The first one recorded wins; it differs from
    # the one asked for only when an earlier try of the workflow task recorded another.
    state: OrderState | None = None
    reason: str | None = None
    tracking_number: str | None = None  # MarkShipped: the hand-over's, from the order's row
    # FinishOrder: the order's payment as the ending left it, say a charge this run had not
    # seen, refunded then (Finished's users before this field ignore it; it changes no command).
    payment: Payment | None = None


@dataclass
class EventInput:
    order_id: str
    event_type: str
    key: str
    payload: dict = field(default_factory=dict)
    # As ReceiveOrderInput.first_run_id: an event the bookkeeper records before ReceiveOrder has
    # answered (a cancel sent with the start) is refused if the row is another run chain's.
    first_run_id: str = ""
