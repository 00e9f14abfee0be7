"""Orchestration: OrderWorkflow and its ShippingWorkflow child. Deterministic code only."""
