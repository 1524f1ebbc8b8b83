"""The ``chaosdrill`` command: a thin argparse shell over the engine modules.

Exit-code policy (DESIGN.md §7), applied in one place, :func:`main`:
0 everything held; 1 a hypothesis or SLO failed (a finding about the system);
2 bad input or a tool failure (a finding about the drill).
Each subcommand module exposes ``register(subparsers)`` and sets ``func`` returning an int.
"""

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from chaoslib.exceptions import ChaosException

from chaosdrill import __version__
from chaosdrill.errors import BadInput, ChaosdrillError

__all__ = ["COMMAND_MODULES", "EXIT_FAILED", "EXIT_HELD", "EXIT_INVALID", "main"]

EXIT_HELD, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

# Modules that register subcommands; each owns its own arguments and logic.
COMMAND_MODULES = (
    "chaosdrill.commands.tools",
    "chaosdrill.commands.sandbox",
    "chaosdrill.commands.load",
    "chaosdrill.commands.recover",
    "chaosdrill.commands.drill",
    "chaosdrill.commands.report",
    "chaosdrill.commands.cluster",
    "chaosdrill.commands.validate",
    "chaosdrill.commands.preflight",
    "chaosdrill.commands.runbook",
    "chaosdrill.commands.rehearse",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: <argument>: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chaosdrill", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"chaosdrill {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # a command whose module is not written yet
            raise
        module.register(sub)
    # `runbook lint` and `rehearse` resolve a runbook's `chaosdrill ...` references against this table.
    parser.set_defaults(root_parser=parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        rc: int = args.func(args)
        return rc
    except BadInput as e:
        print(f"chaosdrill: invalid input: {e}", file=sys.stderr)
        return EXIT_INVALID
    except (ChaosdrillError, ChaosException) as e:
        print(f"chaosdrill: {e}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("chaosdrill: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
