"""The local stack: Temporal dev server, PostgreSQL and both workers as background processes
under ``.data/``, started, checked and stopped as one."""

from app.stack.purge import PurgeRefused
from app.stack.stack import Stack, StackError

__all__ = ["PurgeRefused", "Stack", "StackError"]
