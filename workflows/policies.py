"""Timeouts and retry policies, chosen for the 15-second processing budget against a
dependency that fails a third of the time and hangs a third of the time (docs/lifecycle.md,
"Timing").

Every step runs as a *local* activity: its attempts, timeouts and retry timers are driven by
the worker itself with millisecond precision, instead of costing a server round trip and a
server timer (about 0.35 s more per timed-out attempt on the dev server, measured) each. Every
attempt is still recorded in activity_attempts by the worker's interceptor.

A hung attempt is abandoned after START_TO_CLOSE; the next starts RETRY_INITIAL later, a
little later each time. Both are as short as measurement allows (docs/performance.md): every
order pays about one timeout and two back-offs per step, six steps in a row. Business steps
retry without limit, so an order survives a worker or database outage and resumes; only
dispatch is bounded, so that a carrier that never takes the package fails for good and the
parent can retry shipping or compensate.
"""

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

# A retry policy's maximum_attempts is an int32.
MAX_LOCAL_ATTEMPTS = 2**31 - 1


def local_attempts_problem(attempts: object) -> str | None:
    """Why no retry policy can be made of a workflow input's local_attempts (0: each step's own
    bound), if none can: an input from other means than the operator's tools."""
    if isinstance(attempts, int) and 0 <= attempts <= MAX_LOCAL_ATTEMPTS:
        return None
    return f"local_attempts must be a whole number from 0 to {MAX_LOCAL_ATTEMPTS}, not {attempts!r}."


NON_RETRYABLE = ["InvalidOrder", "PaymentConflict", "CarrierRefused", "ShipmentCalledOff"]

# Business steps: a success takes a few milliseconds (measured under load at C=100, after
# the 2026-11-25 tuning: p50 2-4 ms, p99 25-53 ms, p99.9 40-90 ms, max 99 ms); anything
# slower is the hang. A success cut off by the timeout only costs a retry, since every side
# effect is idempotent by key. Each hang costs the whole timeout, about once per step.
BUSINESS_START_TO_CLOSE = timedelta(milliseconds=120)
# Retrying a random failure at once is as good as later; the back-off only spares a
# dependency that is down, and maximum_interval caps it. The cap sets the tail: a step needs 15
# or more attempts about once in 290 (2/3)^14, 20 or more once in 2,200, so most runs of 300
# orders have one, and the slowest orders are those with such a streak. With a 250 ms cap a
# streak of 20 spent ~2.7 s in back-off, with 100 ms ~1.4 s: at N=300, C=100, p99 8.46 -> 7.80
# and 7.21 s, max 9.71 -> 8.55 and 8.45 s (means of six runs each, interleaved; p50 and the
# CPU per order unchanged). 50 ms gave the same p99 (7.30 s) and max 7.87 s, for a dependency
# that is down retried twice as often.
BUSINESS_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=20),
    backoff_coefficient=1.2,
    maximum_interval=timedelta(milliseconds=100),
    non_retryable_error_types=NON_RETRYABLE,
)
# Dispatch is bounded so that a carrier that never takes the package fails for good and the
# parent can retry shipping or compensate (~6 s of attempts). The bound must not trip on the
# flaky dependency's luck alone: 24 did, (2/3)^24 ≈ 6e-5, about once in 17,000 orders, and
# the shipping retry that followed took that order past 15 s (seen once in ~10,000: 15.5 s).
# (2/3)^40 ≈ 9e-8.
DISPATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=20),
    backoff_coefficient=1.2,
    maximum_interval=timedelta(milliseconds=100),
    maximum_attempts=40,
    non_retryable_error_types=NON_RETRYABLE,
)

# How long the server waits for a worker to complete a workflow task it handed out, before it
# hands the task out again (the SDK's default is 10 s). Under full load the dev server sometimes
# records a task as started for a poll that is already gone: matching gives the start 1 s on a
# sync match, and on the one SQLite connection it can commit later (temporalio/temporal#11733;
# the server's log: "Update workflow execution operation failed ... context canceled"). No worker
# ever sees that task, and the order waits out the whole timeout. Measured at N=300, C=100 in a
# slow spell (2026-11-28, 142 stack CPU-ms per order): 5 such tasks in one run, its three slowest
# orders (17.9, 15.9 and 13.5 s, ~10 s of each that wait), none in two runs beside it. A task
# without local activities took at most 1.6 s (p99 0.7 s); one running local activities is
# heartbeated by the worker at 80 % of this timeout. At 4 s, in an overload run (N=600, C=200)
# the order worker stalled ~1 s and missed five heartbeats: those tasks timed out though done,
# and ran their steps again. At 5 s, two such runs had none (the slowest task 1.3 s without local
# activities, 3.7 s with them).
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=5)
# How long a workflow task waits on a worker's own (sticky) queue before the server offers it to
# every worker. Only a worker that died leaves it waiting: the SDK's 10 s paused each order a
# killed worker held for 10 s (measured: N=150, C=50, the order worker killed 4 s in, its orders
# resumed with a 10 s schedule-to-start timeout each; the slowest took 14.8 s). Under full load a
# task waited at most 2.8 s for its poll (N=600, C=200).
STICKY_TASK_WAIT = timedelta(seconds=5)

# Between shipping attempts after the carrier refused (1 s, then 2 s): short enough for the
# budget, long enough for an operator's address fix or cancel to land.
SHIPPING_RETRY_DELAY = timedelta(seconds=1)

# After an Update is accepted, before a step acts on it: any timer ends the workflow task, which
# puts the Update's acceptance on record (OrderInput.updates_on_record); the dev server
# fires it within its timer precision (50 ms here).
ON_RECORD_PAUSE = timedelta(milliseconds=1)

# An Update sent this long before the workflow task that takes it (stamped decided_at by the
# client) may be past its sender's wait, and a refusal of it is put on record in the audit, not
# only answered (command_rules.unheard). The tools wait for an answer from a little after the
# stamp: 20 s (COMMAND_TIMEOUT_S, in app/service/sending.py), or 2 s when Temporal says no
# order worker polls (NO_WORKER_CHECK_S: one stopped with SIGSTOP, say); then they tell the
# operator it "may still take effect, or be refused". So the shorter: a refusal audited that
# was heard as well does no harm; one heard by no one and audited nowhere was the gap.
UNHEARD_AFTER = timedelta(seconds=2)
# The most refusals one order puts on record (audited Signals and late Updates together). A late
# Update refused on record costs ~8 history events; past this, a late one is refused by its
# validator (as if its sender still waited: no history, no audit row), so that a client sending
# them in a loop, or one whose clock runs 2 s or more behind Temporal's (every command it sends
# looks late), cannot take the order to Temporal's history limit. An outage leaves a handful.
# A refused Signal past it is logged only (REFUSED_SIGNALS_CAPPED): its audit cost a local
# activity's marker each, on top of the Signal's own event, which nothing can refuse.
MAX_REFUSALS_ON_RECORD = 20

# Bookkeeping on our own database: no flaky dependency, so patient timeouts.
BOOKKEEPING_START_TO_CLOSE = timedelta(seconds=10)
BOOKKEEPING_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
)

# A local activity retries inside the workflow task, which heartbeats every ~4 s (80 % of
# WORKFLOW_TASK_TIMEOUT; three history events each): an order waiting out a long database
# outage that way would reach the history's size limit in about 19 h (38 h with the SDK's
# 10 s task timeout). So a step's local attempts are bounded, far beyond what the flaky
# dependency alone ever needs ((2/3)^100); past the bound something is down, and the step goes
# on as a regular activity, retried by the server, which adds no events until it ends.
# Its back-off stops growing at 5 s: once the database is back, the flaky dependency still
# fails two attempts in three, so the step pays a few more back-offs before it succeeds. At
# 60 s an order waited minutes after the outage (measured, eval_tests/test_outage.py: one
# order's MarkShipped attempts 16, 32, 67 and 55 s apart, still DISPATCHED 240 s after
# PostgreSQL was back). The price: one attempt per 5 s per waiting step during an outage
# (an activity task each; 1,000 waiting steps make ~200 tasks/s on the dev server).
SERVER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    non_retryable_error_types=NON_RETRYABLE,
)


@dataclass(frozen=True)
class Step:
    """How a step runs: as a local activity, then (past local_attempts) on the server."""

    start_to_close: timedelta
    retry: RetryPolicy
    local_attempts: int
    server_start_to_close: timedelta


# 100 local attempts take ~14 s (~10 s of back-off); 20 of bookkeeping ~80 s.
BUSINESS_STEP = Step(BUSINESS_START_TO_CLOSE, BUSINESS_RETRY, 100, server_start_to_close=timedelta(seconds=2))
BOOKKEEPING_STEP = Step(BOOKKEEPING_START_TO_CLOSE, BOOKKEEPING_RETRY, 20, BOOKKEEPING_START_TO_CLOSE)

# The most address changes one order takes through the Update (a validator's refusal adds
# nothing to the history). Each change adds ~11 events; with no cap an API client could take
# an order in review to Temporal's history limit (51,200 events), which terminates it, and the
# reset `order status` advises then hits the limit again (a review reproduced both).
MAX_ADDRESS_CHANGES = 100
