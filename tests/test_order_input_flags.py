"""The flags in an order's input that version its workflow (workflows/model.py, OrderInput):
every order the operator's tools start carries them all, as the workflow tests assume
(tests/conftest.py, an_order, builds its orders with the same function)."""

from __future__ import annotations

from tests.test_service_commands import recorded_start
from workflows.model import Address, OrderInput, OrderItem

ADDRESS = Address(name="Ann Lee", street="1 Main St", city="Springfield", postal_code="12345", country="US")
FLAGS = (
    "updates_on_record",
    "review_window_from_record",
    "updates_recorded_when_accepted",
    "patches_in_input",
    "first_step_without_pause",
    "transient_states_unwritten",
    "states_before_steps_written",
)


async def test_every_order_the_tools_start_carries_every_version_flag(monkeypatch):
    client = await recorded_start(monkeypatch, order_id="o-9", items=[OrderItem("SKU-1", 1)], address=ADDRESS)
    order = client.args[1]
    assert isinstance(order, OrderInput)
    assert {flag: getattr(order, flag) for flag in FLAGS} == dict.fromkeys(FLAGS, True)


def test_an_order_started_by_other_means_carries_none():
    """Decoded from a start event without them (an order of earlier code), or started by hand."""
    order = OrderInput(order_id="o-1", items=[OrderItem("SKU-1", 1)], address=ADDRESS)
    assert [flag for flag in FLAGS if getattr(order, flag)] == []
