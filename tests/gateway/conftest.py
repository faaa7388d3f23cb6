"""Fixtures of the gateway tests; the helpers live in gateway_stack.py (importable by tests)."""

from gateway_stack import embedder_model, reader_dir, stack, target

__all__ = ["embedder_model", "reader_dir", "stack", "target"]
