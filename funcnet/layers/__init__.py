"""Layers: one module per layer kind, each a frozen pytree record with pure functions beside it."""
