"""Every ``workflow.patched`` id of the two workflows, with the change it guards.

Each marks behaviour added after runs were already in flight, and each is asked for only on
the path it changes, so an order that never takes that path carries no marker (and no extra
visibility write for the TemporalChangeVersion search attribute that every marker upserts).
The one exception is packed-without-signal: it changed the path every shipping child takes,
so every child carries its marker. Dropping the call (with the old branch) would make every
child recorded since fail to replay (70 of the 182 histories in tests/histories, tried), and
deprecate_patch still writes the marker; it stays.
An id is never renamed or reused: histories that carry it must replay.

Orders started with OrderInput.patches_in_input take every OrderWorkflow change listed in
ORDER_PATCHES_IN_INPUT without asking workflow.patched (OrderWorkflow._patched), so their
histories carry none of these markers: a marker asked right after a step could replay in an
earlier workflow task than it ran in, and fail (see that field). A patch added after them is
not in the set, and is asked as before.
"""

# ---- OrderWorkflow

# A cancel accepted while the decision was being recorded wins before any money moves.
CANCEL_BEFORE_CHARGE = "cancel-before-charge"
# A payment that can never succeed ends the order FAILED instead of failing the workflow.
PAYMENT_FAILURE_ENDS_ORDER = "payment-failure-ends-order"
# Signals that come while the order is being wound up are refused (and audited).
REFUSE_WHILE_ENDING = "refuse-while-ending"
# An address change that comes while ReceiveOrder is still retrying waits for the row.
ADDRESS_AFTER_RECEIPT = "address-after-receipt"
# A cancel requested through Temporal (Web UI, `temporal workflow cancel`) is the operator's.
TEMPORAL_CANCEL_IS_A_CANCEL = "temporal-cancel-is-a-cancel"
# A signal at or past the review deadline is refused, even before the timer has been seen.
REVIEW_WINDOW_CLOSES = "review-window-closes"
# A cancel signal after a rejection is refused: the first of the two decides the ending.
CANCEL_AFTER_REJECTION_REFUSED = "cancel-after-rejection-refused"
# Signals with text the database cannot store were accepted before this (and their steps then
# retried for ever); asked only when a signal's text has that problem.
REFUSE_UNSTORABLE_TEXT = "refuse-unstorable-text"
# A shipping child id still in use (a reset of the order to before its child's start while the
# child ran: the old child runs on to its end, for the same order) counts as a failed shipping attempt
# instead of failing the order.
SHIPPING_ID_IN_USE = "shipping-id-in-use"
# ChargePayment returns the payment as it is: a refunded one (its charge and refund were done
# by a try of the workflow task that was lost, or before a reset) is not money in hand.
REFUNDED_IS_NOT_PAID = "refunded-is-not-paid"
# The database refuses to refund an order the carrier has: such an order ships, and a pending
# cancel is refused, instead of ending CANCELLED or FAILED with the money kept.
REFUND_REFUSED_SHIPS = "refund-refused-ships"
# An approved order that ends without a charge this run has seen asks the database for a
# refund anyway: a try of the workflow task that was lost (a worker crash) may have charged it,
# and a cancel delivered with the approval's retry ended the order before this run charged.
REFUND_ASKS_THE_DATABASE = "refund-asks-the-database"
# A cancel that comes while the shipping child runs is no longer forwarded to it: its dispatch
# reads the cancel from the database and calls the shipment off. The forward decided nothing
# and cost work: a signal landing while the child's task ran its steps made the server refuse
# that task's completion, and the steps ran again.
CANCEL_LEFT_TO_THE_DATABASE = "cancel-left-to-the-database"
# An order ReceiveOrder cannot store (started by other means than the operator's tools, with
# text the database refuses) ends FAILED with the reason; before, the workflow failed.
UNSTORABLE_ORDER_FAILS = "unstorable-order-fails"
# The audit rows an order already owes (a cancel request, a refused command, a failed shipping
# attempt) are recorded before its ending; before, the ending could overtake them.
AUDIT_BEFORE_ENDING = "audit-before-ending"
# An approval accepted before a cancel (or before an ending the order reached otherwise) is
# recorded like any decision (who, when), before the cancel; before, it was never written.
DECISION_RECORDED_BEFORE_ENDING = "decision-recorded-before-ending"

# The database refuses an ending other than SHIPPED to an order the carrier has (its row stays
# DISPATCHED: a hand-over from before a reset of the workflow, say); FinishOrder says so and the
# order ships, instead of ending REJECTED, EXPIRED or CANCELLED with the money kept.
ENDING_REFUSED_SHIPS = "ending-refused-ships"
# An address change signal that comes while a cancel is pending (accepted, waiting for the
# shipping child's dispatch to settle it) is refused: the order is either cancelled, or the
# carrier already has the package; before, it was recorded as a change.
ADDRESS_REFUSED_WHILE_CANCELLING = "address-refused-while-cancelling"
# Every Update accepted so far is on record in the history before a step acts (a timer ends the
# workflow task that accepted it). Orders started since carry OrderInput.updates_on_record and
# never ask this patch (its marker would upsert a search attribute on every order); orders that
# ran 85b7583-687f9a4 carry its marker, and their histories must replay with the pause.
UPDATES_ON_RECORD_FIRST = "updates-on-record-first"
# Address change signals stop at the Update's cap (policies.MAX_ADDRESS_CHANGES): past it they
# are refused and audited; before, only the Update was capped. Asked only at the cap.
ADDRESS_SIGNALS_CAPPED = "address-signals-capped"
# A dispatch_failed signal whose reason the database cannot store (NUL, bytes that are not
# UTF-8: only a hand-sent one) is refused and audited; before, it became the order's failure
# reason and its shipping_failed event, and the steps storing them retried for ever. Asked
# only when the reason has that problem.
DISPATCH_FAILED_TEXT_CHECKED = "dispatch-failed-text-checked"
# An order started by hand under another workflow id than order-<id> records what it owes its
# audit (a cancel, a decision) only once its ReceiveOrder has stored the row: before it, the
# database lets only order-<id> record, and such a cancel was dropped. Asked only there.
AUDIT_AFTER_RECEIPT_BY_HAND = "audit-after-receipt-by-hand"
# A run refused by the order's row at ReceiveOrder because another run chain of its workflow id
# owns the order (one started by hand under order-<id> once the order's own had closed) fails at
# once, with nothing written; before, it ended the order FAILED through the steps that wind an
# order up, which the database let through (same workflow id). Asked only on that refusal.
ANOTHER_RUNS_ORDER_FAILS = "another-runs-order-fails"
# Such a run that was sent an address change (a hand-typed signal or Update) before ReceiveOrder
# refused it answers the change (refused: the run is FAILED) and fails; before, the change waited
# for the order's row or its ending, neither of which such a run reaches, and the run waited for
# the change: it stayed Running for good. Asked only on that refusal, with such a change pending.
ANOTHER_RUN_ANSWERS_ADDRESS_CHANGES = "another-run-answers-address-changes"
# Such a run's answer to that address change is the run's reason ("Order X belongs to another
# workflow run ..."), as its answer to an approve, reject or cancel is (ANOTHER_RUN_REFUSES_COMMANDS);
# before, it read "The address of order X cannot change: it is already FAILED.", as if the order
# (another run's, maybe shipped) had failed. The refusal is audited, so its text is what the run
# does: asked only on that refusal.
ANOTHER_RUN_REFUSES_ADDRESS_CHANGES = "another-run-refuses-address-changes"
# Such a run that was sent an approve, reject or cancel Update before ReceiveOrder refused it (one
# sent with its start) refuses it with the run's reason; before, the approval was answered
# "approved" and the rejection "rejected" by a run that then failed having decided nothing, and
# the cancel "the Workflow completed before the Update completed". Asked by such an Update's
# handler, only when it comes before the order's row is stored (an early decision of any order
# then answers once ReceiveOrder has: it never answered "approved" sooner to anyone but such a run
# anyway, the tools send decisions only to stored orders).
ANOTHER_RUN_REFUSES_COMMANDS = "another-run-refuses-commands"
# A decision or cancel Update that waited so long that its sender stopped waiting
# (command_rules.unheard) is accepted, and refused by its handler, on record in the audit;
# before, its validator refused it and nothing showed the refusal. Histories from before hold no
# such Update (the validator refused it); asked only on that path, so a replay that found one
# would take the old one.
LATE_REFUSAL_ON_RECORD = "late-refusal-on-record"
# The same for an address change Update (refused because the order is ending or ended, the
# carrier has the package, a cancel is pending, or it has had its 100 changes); before, its
# validator refused it, unaudited. Asked only on that path. An id of its own, though the old one
# would replay today's histories too (the SDK runs an Update's handler right after its
# validator, with no await between: a change the code before accepted finds no refusal in its
# handler, and asks nothing): with one id, a replay that asked it for an address change before
# the marker came would also take the old path for every late decision after it.
LATE_ADDRESS_REFUSAL_ON_RECORD = "late-address-refusal-on-record"
# A null in an address sent as a plain JSON object (a hand-typed `temporal workflow signal`) is
# an empty field, which the address rules then judge (a null name is refused, a null region is
# none); before, it became the text "None" (a name "None", a region "None" in the audit). Asked
# only when an address change (signal or Update) has a null.
ADDRESS_NULL_IS_EMPTY = "address-null-is-empty"
# A signal no handler takes (a typo in a hand-typed `temporal workflow signal`) is refused and
# audited; before, the SDK kept it unread and nothing showed it. Asked only when one comes.
UNKNOWN_SIGNAL_REFUSED = "unknown-signal-refused"
# A refused Signal past policies.MAX_REFUSALS_ON_RECORD (the order's refusals on record, late
# Updates' and Signals' together) is logged only; before, every one was audited (a local
# activity's marker and an audit row each), so a client sending refused Signals in a loop grew
# the audit, and the history faster than its Signals alone do. Asked only at such a Signal.
REFUSED_SIGNALS_CAPPED = "refused-signals-capped"
# A dispatch_failed or package_prepared signal that comes while no shipping child runs (only a
# hand-sent one: the child is their only sender) is refused and audited, within the cap of
# REFUSED_SIGNALS_CAPPED; before, it was dropped with no trace (a reason no attempt read, or a
# PACKED for a package no one packed: an order PAID between shipping attempts went PACKED). Asked
# only at such a signal.
CHILD_SIGNALS_WITHOUT_A_CHILD_REFUSED = "child-signals-without-a-child-refused"
# An order started by hand with max_shipping_attempts below 1 (or not a whole number) ends FAILED
# at validation with the reason; before, it was approved and charged, tried no shipping at all,
# and ended FAILED "Shipping failed after 0 attempts" with its payment refunded. Asked only for
# such a value, which the operator's tools never send.
SHIPPING_ATTEMPTS_CHECKED = "shipping-attempts-checked"

# ---- ShippingWorkflow

# The child no longer stops after packing to signal the parent and wait for its reply: that
# round trip cost a workflow task in each workflow, ~15 % of the CPU per order.
PACKED_WITHOUT_SIGNAL = "packed-without-signal"
# A cancel the child has heard of is settled by the database (DispatchCarrier with call_off),
# never by the child alone: the hand-over may have committed in a task whose completion the
# server refused because the cancel arrived meanwhile, and the run that follows sees the
# cancel first.
CALL_OFF_ASKS_THE_DATABASE = "call-off-asks-the-database"
# A dispatch whose attempts ran out is checked with the database before it is reported failed:
# the last attempt may have handed the package over and then been cut off, or the attempts may
# have been spent while the database itself was down (then it is tried again).
ASK_BEFORE_GIVING_UP = "ask-before-giving-up"
# A hand-over check that answered in a later workflow task than the one that asked (its worker
# killed while it waited for the database, the next one's check answering at once) counts as a
# database outage too, and the dispatch is tried again; before, only a check that was itself
# retried did, and such a dispatch was reported failed. Asked only on that path.
CHECK_ACROSS_TASKS_IS_AN_OUTAGE = "check-across-tasks-is-an-outage"

# Such a check (one that answered in a later workflow task than the one that asked) counts as
# an outage only if a lost task began it: the child asked it while replaying (a worker killed
# while the check waited for the database; HandoverInput.begun_by_a_lost_task). Before, any such
# check did, and a workflow task heartbeat (every 4 s while local activities run) that landed
# during a check that answered at once ran a dispatch that had failed for good 40 more times
# (~6 s). Asked only on that path; not in SHIPPING_PATCHES_IN_INPUT (children started before it
# take the rule above without asking, and must replay so).
CHECK_BEGUN_BY_A_LOST_TASK_IS_AN_OUTAGE = "check-begun-by-a-lost-task-is-an-outage"

# The child's dispatch_failed goes to the run of the order that started it (its run id), not
# to whichever run holds the order's workflow id: after a reset, an old run's child could set
# the new run's failure reason.
SIGNAL_THE_PARENT_RUN = "signal-the-parent-run"
# A reset of the order while its child runs hands the child on to the reset run (Temporal 1.32),
# and the run the child signals is closed: that signal's failure no longer fails the child (its
# result carries the reason to the run that waits for it). Before, the child failed, and the
# order recorded "Unable to signal external workflow" as the attempt's reason. Asked only then.
PARENT_RUN_GONE_IS_NO_FAILURE = "parent-run-gone-is-no-failure"
# A child with no parent (started by hand) whose dispatch fails for good signals no one; before,
# it sent dispatch_failed to whichever workflow its input named as parent_workflow_id (an order
# that had nothing to do with it took its reason as a shipping attempt's). Asked only then.
PARENTLESS_CHILD_TELLS_NO_ONE = "parentless-child-tells-no-one"

# ---- both (workflows/steps.py)

# A step whose local attempts ran out (policies.Step) goes on as a regular activity; before,
# local attempts were unbounded.
LONG_RETRIES_ON_THE_SERVER = "long-retries-on-the-server"
# A cancel requested through Temporal that reaches a step while it runs (a shipping child's
# step retrying across workflow tasks: `temporal workflow cancel`, the Web UI) ends the
# workflow CANCELLED; before, the step went on as a regular activity (or the dispatch was
# reported failed), and the cancel was swallowed. Asked only then. (OrderWorkflow shields its
# steps from such a cancel, which becomes the operator's: it never takes this path.)
CANCEL_STOPS_THE_STEP = "cancel-stops-the-step"

# ---- Orders started with OrderInput.patches_in_input

# Every OrderWorkflow change above, and LONG_RETRIES_ON_THE_SERVER, which its steps ask:
# taken without asking by orders started with OrderInput.patches_in_input. Never add to it: an
# order started before a new patch must not take it on replay.
ORDER_PATCHES_IN_INPUT = frozenset({
    CANCEL_BEFORE_CHARGE,
    PAYMENT_FAILURE_ENDS_ORDER,
    REFUSE_WHILE_ENDING,
    ADDRESS_AFTER_RECEIPT,
    TEMPORAL_CANCEL_IS_A_CANCEL,
    REVIEW_WINDOW_CLOSES,
    CANCEL_AFTER_REJECTION_REFUSED,
    REFUSE_UNSTORABLE_TEXT,
    SHIPPING_ID_IN_USE,
    REFUNDED_IS_NOT_PAID,
    REFUND_REFUSED_SHIPS,
    REFUND_ASKS_THE_DATABASE,
    CANCEL_LEFT_TO_THE_DATABASE,
    UNSTORABLE_ORDER_FAILS,
    AUDIT_BEFORE_ENDING,
    DECISION_RECORDED_BEFORE_ENDING,
    ENDING_REFUSED_SHIPS,
    ADDRESS_REFUSED_WHILE_CANCELLING,
    UPDATES_ON_RECORD_FIRST,
    ADDRESS_SIGNALS_CAPPED,
    DISPATCH_FAILED_TEXT_CHECKED,
    LONG_RETRIES_ON_THE_SERVER,
})

# ---- Shipping children started with ShippingInput.patches_in_input

# Every ShippingWorkflow change above, and the two its steps ask (LONG_RETRIES_ON_THE_SERVER,
# CANCEL_STOPS_THE_STEP): taken without asking by children whose order passes
# ShippingInput.patches_in_input. Before, every child asked PACKED_WITHOUT_SIGNAL after packing,
# which recorded a marker and upserted TemporalChangeVersion (a search-attribute write) in
# every order. Never add to it: a child started before a new patch must not take it on replay.
SHIPPING_PATCHES_IN_INPUT = frozenset({
    PACKED_WITHOUT_SIGNAL,
    CALL_OFF_ASKS_THE_DATABASE,
    ASK_BEFORE_GIVING_UP,
    CHECK_ACROSS_TASKS_IS_AN_OUTAGE,
    SIGNAL_THE_PARENT_RUN,
    PARENT_RUN_GONE_IS_NO_FAILURE,
    LONG_RETRIES_ON_THE_SERVER,
    CANCEL_STOPS_THE_STEP,
})
