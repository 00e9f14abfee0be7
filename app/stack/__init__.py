"""The local stack: Temporal dev server, PostgreSQL and both workers as background processes
under ``.data/``, started, checked and stopped as one."""

from app.stack.stack import Stack, StackError

__all__ = ["Stack", "StackError"]
