"""Everything an operator touches: the CLI, the TUI, the API, the local stack and the benchmark."""
