"""Traffic faults: a surge of load from the running load generator.

On the sandbox the surge multiplies the arrival rate of the matching load streams
(open-model: the new rate holds whatever the service does). On Kubernetes, where kwok
pods run no process, it raises the simulated CPU usage the HPA sees instead.
"""

from chaoslib.types import Configuration, Secrets

from chaosdrill import faults

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
    args = {
        "factor": factor,
        "stream": stream,
        "selector": selector,
        "namespace": namespace,
        "usage_cpu": usage_cpu,
        "ttl_s": ttl_s,
    }
    return faults.inject("surge", configuration, args)


def end_surge(
    stream: str = "*",
    selector: str = "",
    namespace: str = "default",
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Put the surged streams (or pods' CPU usage) back to what they were."""
    args = {"stream": stream, "selector": selector, "namespace": namespace}
    return faults.remove("surge", configuration, args)
