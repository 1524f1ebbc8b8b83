"""Chaos Toolkit actions, one module per fault domain. Each exports its actions in ``__all__``."""
