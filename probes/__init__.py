"""Chaos Toolkit probes, one module per concern. Assertion probes raise ActivityFailed
naming the target, the threshold and the value seen; measuring probes return JSON-able data."""
