"""Signal handlers must never raise: the error fails the workflow task, which is retried for
ever, and the workflow stops moving. A signal sent with arguments its handler does not take
(a hand-typed ``temporal workflow signal``, say) is therefore refused, not applied."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable


def checked_arguments(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Wrap a signal handler so that a signal with the wrong arguments goes to the workflow's
    ``_signal_refused(name, reason)`` instead. The wrapper keeps the handler's signature, so
    the SDK still decodes each argument by its type hint."""

    def decorate(handler: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(handler)
        takes = [p.name for p in signature.parameters.values()][1:]  # after self

        @functools.wraps(handler)
        def checked(self: Any, *args: Any) -> None:
            try:
                signature.bind(self, *args)
            except TypeError:
                shape = f"at most {len(takes)} ({', '.join(takes)})" if takes else "none"
                self._signal_refused(name, f"The {name} signal takes {shape} arguments; it was sent {len(args)}.")
                return
            handler(self, *args)

        return checked

    return decorate
