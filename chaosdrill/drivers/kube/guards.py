"""The checks that stand between an experiment and a cluster, before any client exists:
an explicit context that does not look like production, a kubeconfig that is there, and
the one namespace allowlist every Kubernetes fault and preflight apply."""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chaosdrill.errors import BadInput

__all__ = ["SYSTEM_NAMESPACES", "allowed_namespaces", "checked_context", "kubeconfig_of", "namespace_problem"]

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


def checked_context(configuration: Mapping[str, Any]) -> str:
    """``kube_context``: required (never the kubeconfig's current context); a context whose
    name contains "prod" also needs ``chaosdrill_allow_production: true``."""
    context = configuration.get("kube_context")
    if not context or not isinstance(context, str):
        raise BadInput(
            "<experiment>",
            "configuration.kube_context",
            "required for chaosdrill_target kubernetes; chaosdrill never falls back to the current context",
        )
    if "prod" in context.lower() and configuration.get("chaosdrill_allow_production") is not True:
        raise BadInput(
            "<experiment>",
            "configuration.kube_context",
            f"{context!r} looks like production; set chaosdrill_allow_production: true to drill it",
        )
    return context


def allowed_namespaces(configuration: Mapping[str, Any]) -> tuple[str, ...] | None:
    """``chaosdrill_allow_namespaces``, checked: None when unset."""
    allow = configuration.get("chaosdrill_allow_namespaces")
    if allow is None:
        return None
    if not isinstance(allow, list) or not all(isinstance(n, str) for n in allow):
        raise BadInput("<experiment>", "configuration.chaosdrill_allow_namespaces", "must be a list of names")
    return tuple(allow)


def kubeconfig_of(configuration: Mapping[str, Any]) -> str:
    """``kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``; it must exist."""
    raw = configuration.get("kubeconfig")
    if raw:
        path = Path(os.path.expanduser(str(raw)))
        field_name = "configuration.kubeconfig"
    else:
        env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        path = Path(os.path.expanduser(env or "~/.kube/config"))
        field_name = "configuration.kubeconfig (unset; tried $KUBECONFIG or ~/.kube/config)"
    if not path.is_file():
        raise BadInput("<experiment>", field_name, f"kubeconfig {str(path)!r} does not exist")
    return str(path)


def namespace_problem(namespace: str, allowed: Sequence[str] | None) -> str | None:
    """Why a drill may not touch ``namespace``, or None: the one namespace allowlist.

    With ``chaosdrill_allow_namespaces`` set, only those; without it, anything but the
    system namespaces. The Kubernetes client raises it as BadInput, preflight reports it.
    """
    if not namespace:
        return "must not be empty"
    if allowed is None:
        if namespace in SYSTEM_NAMESPACES:
            return f"{namespace!r} is a system namespace; list it in chaosdrill_allow_namespaces to allow it"
        return None
    if namespace not in allowed:
        return f"{namespace!r} is not in configuration.chaosdrill_allow_namespaces {list(allowed)}"
    return None
