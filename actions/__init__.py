"""Chaos Toolkit actions, one module per fault domain. Each exports its actions in ``__all__``.

``discover`` is re-exported here because ``chaos discover chaosdrill`` imports the *first*
top-level package of the distribution, and the installer lists ``actions`` first.
"""

from chaosdrill import discover

__all__ = ["discover"]
