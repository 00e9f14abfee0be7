"""Signal handlers must never raise: the error fails the workflow task, which is retried for
ever, and the workflow stops moving. A signal sent with more or fewer arguments than its
handler takes (a hand-typed ``temporal workflow signal``, say) is therefore refused, not
applied. (One whose argument the SDK cannot decode to the handler's type, the SDK itself drops
with a warning in the worker's log, before any handler runs.)"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from temporalio.exceptions import ApplicationError


def checked_arguments(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Wrap a signal handler so that a signal with the wrong arguments goes to the workflow's
    ``_signal_refused(name, reason)`` instead. The wrapper keeps the handler's signature, so
    the SDK still decodes each argument by its type hint."""

    def decorate(handler: Callable[..., None]) -> Callable[..., None]:
        if inspect.iscoroutinefunction(handler):
            # The SDK would take the synchronous wrapper for a plain handler and drop the coroutine.
            raise TypeError(f"checked_arguments wraps plain signal handlers, not async {handler.__name__}")
        signature = inspect.signature(handler)
        takes = [p.name for p in signature.parameters.values()][1:]  # after self

        @functools.wraps(handler)
        def checked(self: Any, *args: Any) -> None:
            try:
                signature.bind(self, *args)
            except TypeError:
                self._signal_refused(name, f"The {name} signal takes {_at_most(takes)}; it was sent {len(args)}.")
                return
            handler(self, *args)

        return checked

    return decorate


def checked_update_arguments(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Wrap an Update's validator so that an Update with the wrong number of arguments (a
    hand-typed `temporal workflow update execute` with one --input too many) is refused in a
    sentence, not with Python's "takes from 1 to 3 positional arguments but 5 were given". A
    validator never runs on replay: no history changes."""

    def decorate(validator: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(validator)
        params = list(signature.parameters.values())[1:]  # after self
        takes = [p.name for p in params]
        required = sum(1 for p in params if p.default is inspect.Parameter.empty)

        @functools.wraps(validator)
        def checked(self: Any, *args: Any) -> None:
            try:
                signature.bind(self, *args)
            except TypeError:
                shape = f"{required} to {len(takes)} arguments ({', '.join(takes)})" if required else _at_most(takes)
                raise ApplicationError(
                    f"The {name} update takes {shape}; it was sent {len(args)}.", type="Refused", non_retryable=True
                ) from None
            validator(self, *args)

        return checked

    return decorate


def _at_most(takes: list[str]) -> str:
    """ "no arguments", "at most 1 argument (reason)", "at most 2 arguments (reason, by)"."""
    if not takes:
        return "no arguments"
    noun = "argument" if len(takes) == 1 else "arguments"
    return f"at most {len(takes)} {noun} ({', '.join(takes)})"
