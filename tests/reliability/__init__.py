"""Reliability: faults, bad input, secrets and load, end to end."""
