"""JSON Schemas shipped with chaosdrill, and the one way their errors become a BadInput.

Every file a user writes (experiment parts, drill plans, runbooks, topologies) is checked
against a schema before anything runs, and every failure must say the same three things:
which file, where inside it (``configuration.chaosdrill_max_percentage``), and what was
expected there. Keeping the error rendering here means a plan, a runbook and an experiment
report problems in the same words.
"""

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from chaosdrill.errors import BadInput

__all__ = ["TYPE_NAMES", "check", "describe", "json_path", "load_schema", "type_name"]

MAX_SHOWN = 200  # characters of a value quoted in a message: a 1 MB list must not become a 1 MB message

TYPE_NAMES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}

# Names for shared definitions referenced from a oneOf (their own descriptions are not at hand).
_REF_NAMES = {
    "envRef": "an env reference {type: env, key: NAME}",
    "nameList": "a list of names",
}


def type_name(value: Any) -> str:
    """The JSON name of a Python value's type (``object``, ``array``, ...)."""
    return TYPE_NAMES.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The packaged schema ``chaosdrill/schemas/<name>.schema.json``."""
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def json_path(parts: Iterable[Any], prefix: str = "") -> str:
    """``("steps", 2, "check")`` -> ``steps[2].check``; ``<top>`` for the document itself."""
    out = prefix
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top>"


def _expected(schema: Mapping[str, Any]) -> str:
    """A short human name for what a (sub)schema accepts, for oneOf/anyOf failures."""
    if "description" in schema:
        return str(schema["description"])
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _REF_NAMES.get(name, name)
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    return str(kind or "a valid value")


def describe(error: jsonschema.ValidationError, prefix: str = "") -> tuple[str, str]:
    """``(where, problem)`` for one schema error, naming the expected type or values."""
    where = json_path(error.absolute_path, prefix)
    got = type_name(error.instance)
    if error.validator == "type":
        return where, f"expected {_expected({'type': error.validator_value})}, got {got}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return (f"{where}.{missing}" if where != "<top>" else missing), "missing (required)"
    if error.validator == "additionalProperties":
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        extra = sorted(str(k) for k in error.instance if k not in error.schema.get("properties", {}))
        shown = ", ".join(_shown(k) for k in extra[:5])
        return where, f"unknown field(s) {shown}; allowed fields: {allowed}"
    if error.validator == "enum":
        return (
            where,
            f"expected one of {', '.join(map(str, error.validator_value))}, got {_shown(error.instance)}",
        )
    if error.validator in ("oneOf", "anyOf"):
        options = " | ".join(_expected(s) for s in error.validator_value)
        return where, f"expected {options}, got {got} {_shown(error.instance)}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {
            "minimum": ">=",
            "maximum": "<=",
            "exclusiveMinimum": ">",
            "exclusiveMaximum": "<",
        }[str(error.validator)]
        return (
            where,
            f"expected a number {bound} {error.validator_value} ({error.validator}), got {_shown(error.instance)}",
        )
    if error.validator == "pattern":
        return where, f"expected a string matching {error.validator_value}, got {_shown(error.instance)}"
    message = error.message
    return where, message if len(message) <= 2 * MAX_SHOWN else message[: 2 * MAX_SHOWN] + "..."


_validators: dict[int, tuple[Mapping[str, Any], jsonschema.Draft202012Validator]] = {}


def _validator(schema: Mapping[str, Any]) -> jsonschema.Draft202012Validator:
    """One validator per schema object: building one resolves every ``$ref`` again."""
    held = _validators.get(id(schema))
    if held is None or held[0] is not schema:
        held = (schema, jsonschema.Draft202012Validator(schema))
        _validators[id(schema)] = held
    return held[1]


def _order(error: jsonschema.ValidationError) -> tuple[list[str], str]:
    return (list(map(str, error.absolute_path)), error.message[:MAX_SHOWN])


def check(data: Any, schema: Mapping[str, Any], source: str, prefix: str = "") -> None:
    """Raise :class:`BadInput` for the first schema error (by path) in ``data``, if any.

    ``prefix`` is the path of ``data`` inside its file, for schemas applied to a part.
    """
    validator = _validator(schema)
    errors = sorted(validator.iter_errors(data), key=_order)
    if not errors:
        return
    where, problem = describe(errors[0], prefix)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise BadInput(source, where, problem + more)
