"""Read a YAML or JSON document a user wrote, refusing anything that could hang or crash us.

A validator that dies with a traceback on a bad file is worse than none: the user learns
nothing and CI shows a stack. PyYAML alone raises ``ValueError`` on an impossible date,
``RecursionError`` on deep nesting, and expands a "billion laughs" alias bomb into a tree
that takes hours to walk. So the bytes are size-capped and decoded as UTF-8 here, parse
errors of every kind become :class:`BadInput`, and the parsed tree is walked once, with a
node budget and a depth limit, checking that it is plain JSON data (string keys; no dates,
sets or binary) before any schema sees it.
"""

import json
import math
from pathlib import Path
from typing import Any

import yaml

from chaosdrill.errors import BadInput

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "check_plain", "parse_text", "read_document", "read_text"]

MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000


def read_text(path: Path) -> str:
    """The file's text: at most :data:`MAX_BYTES`, UTF-8 (a leading BOM is dropped)."""
    source = str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise BadInput(source, "<file>", f"cannot read: {e.strerror or e}") from e
    if len(raw) > MAX_BYTES:
        raise BadInput(source, "<file>", f"larger than {MAX_BYTES} bytes; not a hand-written document")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(
            source, "<file>", f"not UTF-8 text (byte {e.start}: {raw[e.start : e.start + 1]!r})"
        ) from e
    if "\x00" in text:
        raise BadInput(source, "<file>", "contains NUL characters; not a text document")
    return text.removeprefix("\ufeff")


def parse_text(text: str, source: str, *, as_json: bool = False, line_offset: int = 0) -> Any:
    """Parse YAML (or JSON) text; any parser failure is a BadInput naming ``source``."""
    kind = "JSON" if as_json else "YAML"
    try:
        data = json.loads(text) if as_json else yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1 + line_offset}, column {mark.column + 1}" if mark else "<file>"
        raise BadInput(source, where, f"not valid {kind}: {e.problem or e}") from e
    except json.JSONDecodeError as e:
        raise BadInput(source, f"line {e.lineno}, column {e.colno}", f"not valid {kind}: {e.msg}") from e
    except RecursionError as e:
        raise BadInput(source, "<file>", f"not valid {kind}: nested deeper than the parser allows") from e
    except Exception as e:  # PyYAML constructors raise ValueError/OverflowError/TypeError on odd scalars
        raise BadInput(source, "<file>", f"not valid {kind}: {type(e).__name__}: {str(e)[:200]}") from e
    check_plain(data, source)
    return data


def check_plain(data: Any, source: str) -> None:
    """Refuse anything but JSON-like data, too deep or too large (alias bombs), naming the path."""
    budget = MAX_NODES
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise BadInput(
                source,
                "<file>",
                f"more than {MAX_NODES} values (YAML aliases expanding?); not a hand-written document",
            )
        if depth > MAX_DEPTH:
            raise BadInput(source, path or "<top>", f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    where = f"{path}.{key!r}" if path else repr(key)
                    raise BadInput(source, where[:200], f"keys must be strings, got {type(key).__name__}")
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise BadInput(source, path or "<top>", f"expected a finite number, got {value}")
        elif value is not None and not isinstance(value, str | int | bool):
            raise BadInput(
                source,
                path or "<top>",
                f"expected JSON data (string, number, boolean, list, mapping), got {type(value).__name__}",
            )


def read_document(path: Path) -> Any:
    """Read and parse a YAML or JSON file (by suffix) into plain, bounded JSON-like data."""
    return parse_text(read_text(path), str(path), as_json=path.suffix.lower() == ".json")
