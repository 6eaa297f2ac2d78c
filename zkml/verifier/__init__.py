"""Verification from a verifying key, and content-addressed bundles of what a verifier needs."""
