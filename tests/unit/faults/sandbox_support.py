"""What the sandbox fault-kind tests share: their configuration and one injection call."""

from typing import Any

from fakes.sandbox_api import FakeDrivers

from chaosdrill.faults import engine
from chaosdrill.ledger import Ledger

__all__ = ["CONF", "inject"]

CONF = {"chaosdrill_target": "sandbox"}


def inject(
    name: str, args: dict[str, Any], drivers: FakeDrivers, ledger: Ledger, **conf: Any
) -> dict[str, Any]:
    return engine.inject(name, {**CONF, **conf}, args, drivers=drivers, ledger=ledger)
