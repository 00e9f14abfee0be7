"""What `status` reports about the stack: one verdict per part, and the whole."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from app.stack.health import Check


@dataclass
class PartStatus:
    name: str
    healthy: bool
    detail: str
    local: bool
    pid: int | None = None
    log: str | None = None


@dataclass
class StackStatus:
    parts: list[PartStatus]
    temporal_address: str
    temporal_ui_url: str | None
    database_url: str
    started: list[str] = field(default_factory=list)
    watchdog_pid: int | None = None  # the process that starts a dead worker again (None: none runs)

    @property
    def healthy(self) -> bool:
        return all(part.healthy for part in self.parts)

    def part(self, name: str) -> PartStatus:
        return next(p for p in self.parts if p.name == name)

    def to_json(self) -> dict:
        return {
            "healthy": self.healthy,
            "temporal_address": self.temporal_address,
            "temporal_ui_url": self.temporal_ui_url,
            "database_url": self.database_url,
            "watchdog_pid": self.watchdog_pid,
            "parts": [asdict(p) for p in self.parts],
        }


def part_status(name: str, check: Check, local: bool, pid: int | None, log: str | None) -> PartStatus:
    """A part this stack starts (``local``) is healthy only as the process it started: a server
    answering on its port without our pid file is someone else's."""
    healthy = check.healthy and (not local or pid is not None)
    detail = check.detail
    if local and pid is None:
        detail = "answering, but not the process this stack started" if check.healthy else "not running"
    return PartStatus(name=name, healthy=healthy, detail=detail, local=local, pid=pid, log=log if local else None)
