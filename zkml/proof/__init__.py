"""Proof data: bytes, public instances, and their decoding with a verifying key's settings."""
