"""The local stack: Temporal dev server, PostgreSQL and both workers as background processes
under ``.data/``, started, checked and stopped as one."""

from app.stack.purge import PurgeIncomplete, PurgeRefused
from app.stack.parts import StackError
from app.stack.stack import Stack

__all__ = ["PurgeIncomplete", "PurgeRefused", "Stack", "StackError"]
