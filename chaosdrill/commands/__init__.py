"""Subcommands of the ``chaosdrill`` CLI; each module has ``register(subparsers)``."""
