"""The wire format of the order system: names, states and dataclasses shared by workflows,
activities, workers and the operator's tools. Defined once here, imported everywhere else;
the activities' inputs and results are in workflows/activity_io.py.

Nothing here does I/O, so workflow code may import it freely. Dataclasses evolve by adding
fields with defaults: they are stored in workflow histories.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum

from temporalio.common import SearchAttributeKey

ORDER_TASK_QUEUE = "order-tq"
SHIPPING_TASK_QUEUE = "shipping-tq"

ORDER_STATE_ATTRIBUTE = SearchAttributeKey.for_keyword("OrderState")

ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DEFAULT_REVIEW_WINDOW_SECONDS = 24 * 60 * 60
# SPEC section 3: every order's processing time (its wait for a human aside) stays under this.
PROCESSING_BUDGET_S = 15.0


def order_workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


def shipping_workflow_id(order_id: str, shipping_attempt: int) -> str:
    return f"shipping-{order_id}-{shipping_attempt}"


# The audit event of an accepted cancel. The carrier step reads it in the same transaction
# that hands over the package, so the database decides the race between the two.
CANCEL_REQUESTED_EVENT = "cancel_requested"


def default_payment_id(order_id: str) -> str:
    return f"pay-{order_id}"


class OrderState(str, Enum):
    RECEIVED = "RECEIVED"
    VALIDATED = "VALIDATED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    APPROVED = "APPROVED"
    PAID = "PAID"
    PACKED = "PACKED"
    DISPATCHED = "DISPATCHED"
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


# The happy path, in order: how far an order has come.
PROGRESS = (
    OrderState.RECEIVED,
    OrderState.VALIDATED,
    OrderState.AWAITING_APPROVAL,
    OrderState.APPROVED,
    OrderState.PAID,
    OrderState.PACKED,
    OrderState.DISPATCHED,
    OrderState.SHIPPED,
)

TERMINAL_STATES = frozenset(
    {OrderState.SHIPPED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED, OrderState.FAILED}
)
# Once the carrier has the package nothing can be called back.
PAST_DISPATCH_STATES = frozenset({OrderState.DISPATCHED, OrderState.SHIPPED})
# A review decision is meaningful only until the order leaves review.
BEFORE_DECISION_STATES = frozenset(
    {OrderState.RECEIVED, OrderState.VALIDATED, OrderState.AWAITING_APPROVAL}
)


class PaymentStatus(str, Enum):
    PENDING = "PENDING"
    CHARGED = "CHARGED"
    REFUNDED = "REFUNDED"
    FAILED = "FAILED"


@dataclass
class Address:
    name: str
    street: str
    city: str
    postal_code: str
    country: str
    region: str = ""


@dataclass
class OrderItem:
    sku: str
    quantity: int


@dataclass
class OrderInput:
    order_id: str
    items: list[OrderItem]
    address: Address
    payment_id: str = ""
    review_window_seconds: float = DEFAULT_REVIEW_WINDOW_SECONDS
    max_shipping_attempts: int = 3
    shipping_task_queue: str = SHIPPING_TASK_QUEUE
    # Local attempts of a step before it goes on as a regular activity (0: the policy's bound,
    # workflows/policies.py); tests set a small one.
    local_attempts: int = 0
    # After an Update, the workflow waits for a timer (which ends the workflow task and so puts
    # the Update's acceptance on record) before any step acts on it; see workflows/order_steps.py,
    # OrderSteps.updates_on_record. OrderService sets it on every order it starts. A version recorded in
    # the start event rather than a workflow.patched marker: a marker on this path would also
    # upsert the TemporalChangeVersion search attribute of every order, one more visibility
    # write each through the dev server's single SQLite connection. Orders started without it
    # pause only through the patch updates-on-record-first (patches.py), as their histories did.
    updates_on_record: bool = False
    # In a run a reset made, the review window runs from when the database says the review
    # began (MarkAwaitingApproval keeps the first time), not from the re-run workflow task: the
    # order used to get a whole new window (a Temporal review: 32.6 s of review in a 20 s
    # window). Versioned like updates_on_record; OrderService sets it.
    review_window_from_record: bool = False
    # An accepted Update is put on record by a timer started as it is accepted, not by the next
    # step that would act on it. That step's start depended on whether the Update came in the
    # same activation as what woke it, and temporalio 1.35 splits a worker's first task after
    # local-activity heartbeats differently live than in a replay of the whole history: live,
    # the Update came with the events before it; replayed, after them (a review: TMPRL1100 at
    # the pause's TimerStarted, an order stuck DISPATCHED). Versioned like updates_on_record;
    # OrderService sets it.
    updates_recorded_when_accepted: bool = False
    # Every change workflows/patches.py lists in ORDER_PATCHES_IN_INPUT applies without asking
    # workflow.patched, so the history carries none of their markers. temporalio 1.35 (sdk-core)
    # may record a step's local-activity marker in one workflow task and hand its result to the
    # workflow only in the next, when another step (the bookkeeping one) was still running: a
    # replay hands it over in the first, and a marker asked right after it was then looked for
    # in the wrong task ("[TMPRL1100] ... patch marker encountered for change
    # audit-before-ending", a review: reject, Temporal cancel and an approve Update at once).
    # Versioned like updates_on_record; OrderService sets it.
    patches_in_input: bool = False
    # The first step (ReceiveOrder) does not wait for the timer that puts the Updates accepted
    # so far on record: it acts on none (it stores the order as started), and every later step
    # still waits. An Update sent while that step ran in the first workflow task could be
    # handed to the workflow live after the step began, but in a replay of the whole history
    # with the start, before it: the step then waited for the timer in the replay alone
    # ("[TMPRL1100] ... Missing associated machine for LocalActivity(1)", tests/histories/
    # sdk-bugs). Versioned like updates_on_record; OrderService sets it.
    first_step_without_pause: bool = False
    # VALIDATED, APPROVED and DISPATCHED write no OrderState search attribute of their own: the
    # step that ends each (or the order's ending) comes in the same workflow task, and Temporal
    # publishes the attribute only when the task completes, so the next state's write replaced
    # theirs unseen (two UpsertWorkflowSearchAttributes events in one task, three times an
    # order). Such a state is written only if the task can end while the order is in it: its
    # step goes on as a regular activity (something is down), the order winds up, or the
    # workflow fails (OrderWorkflow._transition). Versioned like updates_on_record; OrderService
    # sets it.
    transient_states_unwritten: bool = False
    # With transient_states_unwritten: only VALIDATED stays unwritten (nothing runs between it
    # and AWAITING_APPROVAL). APPROVED and DISPATCHED are written again: the step after each is
    # a local activity whose attempts can outlast the workflow task, which sdk-core then
    # completes (at 80 % of its timeout) with the commands so far, so the attribute said
    # AWAITING_APPROVAL (PAID) for as long as a charge (MarkShipped) was retried in the worker.
    # Versioned like updates_on_record; OrderService sets it.
    states_before_steps_written: bool = False

    def __post_init__(self) -> None:
        if not self.payment_id:
            self.payment_id = default_payment_id(self.order_id)


@dataclass
class Payment:
    payment_id: str
    status: PaymentStatus = PaymentStatus.PENDING
    amount_cents: int = 0


@dataclass
class Decision:
    approved: bool
    reason: str = ""
    by: str = "operator"
    # When the human decided (ISO 8601, set by the client that sent it): the review clock
    # stops there, not when the workflow gets to act on it. Empty: when it is recorded.
    decided_at: str = ""


@dataclass
class ShippingInput:
    order_id: str
    parent_workflow_id: str
    address: Address
    items: list[OrderItem]
    shipping_attempt: int = 1
    local_attempts: int = 0  # as in OrderInput
    # As OrderInput.patches_in_input, for patches.SHIPPING_PATCHES_IN_INPUT: the child's history
    # carries none of their markers. OrderWorkflow sets it; a child started without it (by an
    # older order worker, or by hand) asks workflow.patched as before.
    patches_in_input: bool = False


@dataclass
class ShippingResult:
    dispatched: bool
    cancelled: bool = False
    tracking_number: str = ""
    reason: str = ""


@dataclass
class ShippingStatus:
    """The shipping child's status Query: the step it is at, the address it will hand over,
    and whether a cancel reached it (only runs from before cancels stopped being forwarded)."""

    step: str
    address: Address
    cancel_requested: bool = False


@dataclass
class OrderStatus:
    """The status Query's answer (and the workflow's result): section 5's fields as the
    workflow itself knows them. ``attempts``, ``retries`` and ``last_error`` are None here:
    the steps are local activities, retried inside the worker, so the workflow never sees an
    attempt that failed; ``order status`` (and the API) fill them from activity_attempts.
    The clocks are as of the last workflow task (workflow code cannot read the time)."""

    order_id: str
    state: OrderState
    step: str
    terminal: bool
    items: list[OrderItem]
    amount_cents: int | None
    address: Address
    payment: Payment
    attempts: dict[str, int] | None = None
    retries: int | None = None
    last_error: dict[str, str] | None = None
    awaiting_approval_since: str | None = None
    processing_seconds: float = 0.0
    review_seconds: float = 0.0
    created_at: str = ""
    updated_at: str = ""
    failure_reason: str = ""
    shipping_attempts: int = 0
    tracking_number: str = ""
    # amount_cents as exact money ("19.99"); empty until ReceiveOrder priced the order.
    amount: str = ""
    # An address change accepted and not yet recorded: ``address`` may be about to differ.
    address_change_pending: bool = False


def format_cents(cents: int | None) -> str:
    """Exact money from cents: 1999 -> "19.99"; empty for an amount not known yet."""
    if cents is None:
        return ""
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def decided_instant(text: str) -> datetime | None:
    """When an operator sent a command (Decision.decided_at, AddressChange.decided_at): the
    client's ISO 8601 timestamp with its zone, in UTC; None if absent or unusable (a pure
    function: workflow code may call it)."""
    try:
        instant = datetime.fromisoformat(text) if text else None
        return instant.astimezone(timezone.utc) if instant is not None and instant.tzinfo is not None else None
    except (ValueError, TypeError, OverflowError):
        return None


def order_id_from_workflow_id(workflow_id: str) -> str:
    """Inverse of order_workflow_id / shipping_workflow_id."""
    if workflow_id.startswith("order-"):
        return workflow_id[len("order-") :]
    if workflow_id.startswith("shipping-"):
        return workflow_id[len("shipping-") :].rsplit("-", 1)[0]
    return workflow_id
