"""Render the shipped Alertmanager routing with the address of this sandbox's webhook receiver.

The shipped ``alertmanager.yml`` names placeholder webhook URLs (its routing is what matters
and what a team copies); each webhook keeps its path, which says the tier (``/p0``, ``/p1``),
and gets this instance's host and port.
"""

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from chaosdrill.errors import BadInput

__all__ = ["render_alertmanager_config", "webhook_paths"]


def _webhooks(doc: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("receivers"), list):
        raise BadInput(source, "receivers", "must be a list of receivers")
    hooks = [
        hook
        for receiver in doc["receivers"]
        if isinstance(receiver, dict)
        for hook in receiver.get("webhook_configs") or []
        if isinstance(hook, dict) and isinstance(hook.get("url"), str)
    ]
    if not hooks:
        raise BadInput(source, "receivers", "no receiver has a webhook_configs url")
    return hooks


def webhook_paths(source: Path) -> list[str]:
    """The paths the shipped receivers post to (``/p0``, ``/p1``)."""
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    return [urlsplit(h["url"]).path or "/" for h in _webhooks(doc, str(source))]


def render_alertmanager_config(source: Path, dest: Path, webhook_base: str) -> Path:
    """Write ``source`` to ``dest`` with every webhook pointed at ``webhook_base`` (same path)."""
    base = urlsplit(webhook_base)
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    for hook in _webhooks(doc, str(source)):
        url = urlsplit(hook["url"])
        hook["url"] = urlunsplit((base.scheme, base.netloc, url.path, url.query, ""))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return dest
