"""Circuits: visibility, compile (with the decomposition choice), the calibration report and the settings tuner."""
