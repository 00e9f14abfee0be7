"""The `order` commands (filled in with the order lifecycle)."""


def register(commands) -> None:
    return None
