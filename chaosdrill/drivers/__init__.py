"""Drivers reach outside systems (Prometheus, Alertmanager, ...) and speak their APIs in typed
results, translating every client failure into ``chaosdrill.errors``."""
