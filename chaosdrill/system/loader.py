"""Reading a system file: the schema first (every error names the file and the field), then
the rules a schema cannot say, then the typed :class:`~chaosdrill.system.model.System`."""

import os
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaosdrill import paths
from chaosdrill.errors import BadInput
from chaosdrill.schemas import check, load_schema
from chaosdrill.schemas.reader import read_document
from chaosdrill.system.model import (
    PLACEHOLDER,
    HeaderNames,
    KubernetesSettings,
    LinkMap,
    Mechanism,
    SessionPaths,
    System,
    ToxiproxyServer,
)

__all__ = ["SYSTEM_ENV", "load_system", "parse_system", "system_of"]

SYSTEM_ENV = "CHAOSDRILL_SYSTEM"
REQUEST_PLACEHOLDERS = frozenset({"user", "tenant", "seq", "stream", "priority"})


def load_system(path: Path) -> System:
    """The system file at ``path``, checked; BadInput names the file and the field."""
    return parse_system(read_document(path), str(path))


def system_of(configuration: Mapping[str, Any] | None) -> System | None:
    """The experiment's system: ``configuration.chaosdrill_system``, else ``$CHAOSDRILL_SYSTEM``;
    else, for an experiment on the sandbox (the default target), the system file the running
    sandbox wrote of itself, so sandbox experiments read their Prometheus, Alertmanager and
    mechanisms from the same file any other system's experiments do."""
    raw = (configuration or {}).get("chaosdrill_system") or os.environ.get(SYSTEM_ENV)
    if not raw:
        own = paths.sandbox_system_file()
        on_sandbox = (configuration or {}).get("chaosdrill_target", "sandbox") == "sandbox"
        return load_system(own) if on_sandbox and own.is_file() else None
    path = Path(os.path.expanduser(str(raw)))
    if not path.is_file():
        field = (
            "configuration.chaosdrill_system"
            if (configuration or {}).get("chaosdrill_system")
            else SYSTEM_ENV
        )
        raise BadInput("<experiment>", field, f"system file {str(path)!r} does not exist")
    return load_system(path)


def _check_templates(requests: Mapping[str, Any], source: str) -> None:
    """A request template may only use the placeholders the load generator fills."""
    for name, template in requests.items():
        parts = {
            "path": template["path"],
            **{f"headers.{k}": v for k, v in (template.get("headers") or {}).items()},
        }
        if isinstance(template.get("body"), str):
            parts["body"] = template["body"]
        for where, text in parts.items():
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
            except ValueError as e:
                raise BadInput(source, f"endpoints.requests.{name}.{where}", f"bad placeholder: {e}") from e
            unknown = sorted(set(fields) - REQUEST_PLACEHOLDERS)
            if unknown:
                raise BadInput(
                    source,
                    f"endpoints.requests.{name}.{where}",
                    f"unknown placeholder {{{unknown[0]}}} (known: "
                    + ", ".join(f"{{{p}}}" for p in sorted(REQUEST_PLACEHOLDERS))
                    + ")",
                )


def _mechanisms(raw: Mapping[str, Any], source: str) -> dict[str, Mechanism]:
    out = {}
    for name, spec in raw.items():
        labels = tuple(spec.get("labels") or ())
        used = set(PLACEHOLDER.findall(spec["query"]))
        undeclared = sorted(used - set(labels))
        if undeclared:
            raise BadInput(
                source,
                f"mechanisms.{name}.query",
                f"uses {{{undeclared[0]}}} but labels are {list(labels)}: declare it in mechanisms.{name}.labels",
            )
        out[name] = Mechanism(name, spec["query"], labels)
    return out


def _headers(data: Mapping[str, Any], source: str) -> HeaderNames | None:
    raw = data.get("headers")
    if raw is None:
        return None
    names = HeaderNames(**raw)
    if (names.seq is None) != (names.seq_ack is None):
        missing = "seq_ack" if names.seq_ack is None else "seq"
        raise BadInput(source, f"headers.{missing}", "headers.seq and headers.seq_ack come together")
    lowered = [n.lower() for n in raw.values()]
    if len(set(lowered)) != len(lowered):
        raise BadInput(source, "headers", f"each header is named once, got {sorted(raw.values())}")
    declared = (data["endpoints"].get("outcomes") or {}).get("served_by_header")
    if declared and names.served_by and declared.lower() != names.served_by.lower():
        raise BadInput(
            source,
            "headers.served_by",
            f"{names.served_by!r} differs from endpoints.outcomes.served_by_header {declared!r}",
        )
    return names


def _session(data: Mapping[str, Any], headers: HeaderNames | None, source: str) -> SessionPaths | None:
    raw = data.get("session")
    if raw is None:
        return None
    path = raw["read_path"]
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(path) if f is not None]
    except ValueError as e:
        raise BadInput(source, "session.read_path", f"bad placeholder: {e}") from e
    if fields != ["user"]:
        raise BadInput(
            source, "session.read_path", f"needs {{user}} exactly once and no other placeholder: {path!r}"
        )
    if headers is None or headers.seq is None:
        raise BadInput(source, "headers.seq", "a session section needs headers.seq and headers.seq_ack")
    return SessionPaths(read_path=path, write_path=raw.get("write_path"))


def parse_system(data: Any, source: str) -> System:
    check(data, load_schema("system"), source)
    endpoints = data["endpoints"]
    _check_templates(endpoints.get("requests") or {}, source)
    servers = tuple(
        ToxiproxyServer(
            api=server["api"].rstrip("/"),
            links=tuple(
                LinkMap(lk["dc"], lk["az"], lk["link"], tuple(lk["proxies"]), lk.get("health_path"))
                for lk in server["links"]
            ),
        )
        for server in data.get("toxiproxy") or []
    )
    kube = data.get("kubernetes")
    headers = _headers(data, source)
    return System(
        path=source,
        name=data["name"],
        endpoints=endpoints,
        toxiproxy=servers,
        prometheus=data.get("prometheus"),
        alertmanager=data.get("alertmanager"),
        notifications=data.get("notifications"),
        kubernetes=None
        if kube is None
        else KubernetesSettings(
            context=kube["context"],
            kubeconfig=kube.get("kubeconfig"),
            namespaces=tuple(kube["namespaces"]) if "namespaces" in kube else None,
            zone_label=kube.get("zone_label", "topology.kubernetes.io/zone"),
            dc_label=kube.get("dc_label", "chaosdrill.io/datacenter"),
        ),
        mechanisms=_mechanisms(data.get("mechanisms") or {}, source),
        headers=headers,
        session=_session(data, headers, source),
    )
