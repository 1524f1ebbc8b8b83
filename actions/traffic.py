"""Traffic faults: a surge of load from the running load generator.

On the sandbox the surge multiplies the arrival rate of the matching load streams
(open-model: the new rate holds whatever the service does). On Kubernetes, where kwok
pods run no process, it raises the simulated CPU usage the HPA sees instead.
"""

from chaoslib.types import Configuration, Secrets

from chaosdrill.errors import BadInput
from chaosdrill.ledger import Fault
from chaosdrill.load import control as load_control
from chaosdrill.targets import Target, inject, rollback, target_of

__all__ = ["end_surge", "surge"]


def surge(
    factor: float = 5.0,
    stream: str = "*",
    selector: str = "",
    namespace: str = "default",
    usage_cpu: str = "900m",
    ttl_s: float | None = None,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Multiply the rate of the load streams matching ``stream`` by ``factor``.

    On Kubernetes: set the simulated CPU usage of the pods matching ``selector`` to
    ``usage_cpu``; ``ttl_s`` bounds that surge's life (the TTL watchdog ends it, and the
    pods' fault marks carry the expiry). On the sandbox the surge lives and dies with
    the load worker, so it takes no TTL. Undo with ``end_surge``.
    """
    if target_of(configuration) is Target.KUBERNETES:
        from chaosdrill.targets import kubernetes

        return kubernetes.surge_cpu(selector, namespace, usage_cpu, configuration or {}, ttl_s)
    if ttl_s is not None:
        raise BadInput(
            "<argument>", "ttl_s", "a sandbox surge ends with its load worker; ttl_s is for Kubernetes"
        )
    if not 0 < factor <= 1000:
        raise BadInput("<argument>", "factor", f"must be within (0, 1000], got {factor}")
    handle = load_control.current()
    if handle is None:
        from chaosdrill.errors import NotRunning

        raise NotRunning("no load is running; declare the chaosdrill.controls.load control in the experiment")
    fault = Fault(
        driver="load",
        kind="surge",
        key=f"surge:{stream}",
        description=f"load streams {stream!r} x{factor}",
        revert={"control_url": handle.control_url, "pid": handle.pid, "stream": stream},
    )
    result = inject(fault, lambda: handle.set_factor(stream, factor))
    return {"fault_id": fault.id, "factor": factor, **result}


def end_surge(
    stream: str = "*",
    selector: str = "",
    namespace: str = "default",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Put the surged streams (or pods' CPU usage) back to what they were."""
    if target_of(configuration) is Target.KUBERNETES:
        from chaosdrill.targets import kubernetes

        return kubernetes.restore_cpu(selector, namespace, configuration or {})
    return {"ledger_entries_closed": rollback("load", f"surge:{stream}")}
