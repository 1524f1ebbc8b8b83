"""Kill pods: SIGKILL sandbox replica processes, or delete Kubernetes pods.

The same action works on both targets (``configuration.chaosdrill_target``). The
selector is a Kubernetes equality selector; sandbox replicas carry the labels ``dc``,
``az``, ``pool`` and ``component``. ``configuration.chaosdrill_max_percentage`` caps
the share of matching replicas one call may touch.
"""

from chaoslib.types import Configuration, Secrets

from chaosdrill import faults

__all__ = ["kill_pods"]


def kill_pods(
    selector: str = "",
    count: int | None = None,
    percentage: float | None = None,
    namespace: str = "default",
    grace_period_s: int = 0,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Kill ``count`` (or ``percentage``%) of the pods/replicas matching ``selector``.

    Sandbox: SIGKILL to the replica processes; the supervisor restarts them as a
    ReplicaSet would. Kubernetes: delete the pods in ``namespace`` with the grace period.
    Raises ActivityFailed when nothing matches or the blast-radius cap would be exceeded.
    """
    args = {
        "selector": selector,
        "count": count,
        "percentage": percentage,
        "namespace": namespace,
        "grace_period_s": grace_period_s,
    }
    return faults.inject("pod_kill", configuration, args)
