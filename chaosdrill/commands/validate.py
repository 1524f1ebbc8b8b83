"""``chaosdrill validate FILE... [--kind K] [--json]``: check experiments, plans, runbooks, topologies.

Every file is checked, not just up to the first bad one, so a CI job lists every broken
file at once. Exit 0 when all are valid, 2 when any is not; one line per file either way,
and never a traceback: a crash inside a validator is itself reported as a problem with that
file ("internal error"), because the user can act on the file name.
"""

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from chaosdrill.errors import BadInput
from chaosdrill.validate import Kind, validate_file

__all__ = ["register", "validate_paths"]

log = logging.getLogger("chaosdrill.commands.validate")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "validate", help="check experiments, drill plans, runbooks and topologies; exit 2 if any is bad"
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument(
        "--kind", choices=[k.value for k in Kind], help="skip detection: treat every FILE as this kind"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    p.set_defaults(func=_validate)


def validate_paths(paths: list[Path], kind: Kind | None = None) -> list[dict[str, Any]]:
    """One result per path: ``{"file", "ok", "kind"|"field"+"problem"}``."""
    results: list[dict[str, Any]] = []
    for path in paths:
        try:
            found = validate_file(path, kind)
            results.append({"file": str(path), "ok": True, "kind": found.value})
        except BadInput as e:
            results.append(
                {"file": str(path), "ok": False, "field": e.field, "problem": e.problem, "error": str(e)}
            )
        except RecursionError:
            results.append(_internal(path, "nested too deeply to check"))
        except Exception as e:  # never a traceback for a bad file; the message names it
            log.debug("validator crashed on %s", path, exc_info=True)
            results.append(_internal(path, f"{type(e).__name__}: {str(e)[:300]}"))
    return results


def _internal(path: Path, problem: str) -> dict[str, Any]:
    return {
        "file": str(path),
        "ok": False,
        "field": "<file>",
        "problem": f"internal error while checking it: {problem}",
        "error": f"{path}: <file>: internal error while checking it: {problem}",
    }


def _validate(args: argparse.Namespace) -> int:
    results = validate_paths(list(args.files), Kind(args.kind) if args.kind else None)
    for r in results:
        if args.json:
            print(json.dumps(r, sort_keys=True))
        elif r["ok"]:
            print(f"ok       {r['file']} ({r['kind']})")
        else:
            print(f"INVALID  {r['error']}")
    bad = sum(1 for r in results if not r["ok"])
    if not args.json:
        print(f"validate: {len(results) - bad} valid, {bad} invalid")
    return 2 if bad else 0
