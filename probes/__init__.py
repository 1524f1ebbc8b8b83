"""Chaos Toolkit probes, one module per concern. Assertion probes raise ActivityFailed
naming the target, the threshold and the value seen; measuring probes return JSON-able data.

``discover`` is re-exported for the same reason as in ``actions``: chaoslib's discovery may
import any top-level package of the ``chaosdrill`` distribution.
"""

from chaosdrill import discover

__all__ = ["discover"]
