"""Batch proving: many inferences of one model on a local process pool or Ray."""
