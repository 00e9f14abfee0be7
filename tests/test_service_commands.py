"""What the operator's commands send: approve and reject carry the moment the operator decided,
so the review clock stops there (README, "Timing")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.service import OrderService


class _Handle:
    def __init__(self, sent: list) -> None:
        self.sent = sent

    async def execute_update(self, name: str, args: list) -> str:
        self.sent.append((name, args))
        return "ok"


class _Client:
    def __init__(self) -> None:
        self.sent: list = []

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle(self.sent)


async def test_approve_and_reject_are_stamped_with_the_time_of_the_decision():
    client = _Client()
    service = OrderService(settings=None, client=client, pool=None)  # type: ignore[arg-type]
    before = datetime.now(timezone.utc)
    await service.approve("o-1", by="dana")
    await service.reject("o-2", reason="fraud", by="eve")
    after = datetime.now(timezone.utc)
    (approve, approve_args), (reject, reject_args) = client.sent
    assert (approve, approve_args[0]) == ("approve", "dana")
    assert (reject, reject_args[:2]) == ("reject", ["fraud", "eve"])
    for stamp in (approve_args[-1], reject_args[-1]):
        assert before - timedelta(seconds=1) <= datetime.fromisoformat(stamp) <= after
