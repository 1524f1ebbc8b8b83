"""The ledger's revert for load faults (a surge): set the streams' factor back to 1.

A surge lives in the load worker; if that worker is gone, so is the surge.
"""

from typing import Any

from chaosdrill.load import control as load_control

__all__ = ["revert"]


def revert(args: dict[str, Any]) -> None:
    handle = load_control.current()
    if handle is None or handle.pid != args.get("pid") or not handle.alive():
        return
    handle.set_factor(str(args["stream"]), 1.0)
