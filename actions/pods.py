"""Kill pods: SIGKILL sandbox replica processes, or delete Kubernetes pods.

The same action works on both targets (``configuration.chaosdrill_target``). The
selector is a Kubernetes equality selector; sandbox replicas carry the labels ``dc``,
``az``, ``pool`` and ``component``. ``configuration.chaosdrill_max_percentage`` caps
the share of matching replicas one call may touch, and ``chaosdrill_allow_dcs`` the DCs the
selection may reach.
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
    allow_all: bool = False,
    *,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> dict:
    """Kill ``count`` (or ``percentage``%) of the pods/replicas matching ``selector``;
    with neither, kill one.

    Sandbox: SIGKILL to the replica processes; the supervisor restarts them as a
    ReplicaSet would. Kubernetes: delete the pods in ``namespace`` with the grace period.
    A selector that selects everything (empty; on the sandbox, also one matching every
    replica) is refused as bad input unless ``allow_all`` is true: the experiment must say
    it means it. Raises ActivityFailed when nothing matches, the selection reaches a DC
    outside ``chaosdrill_allow_dcs``, or the ``chaosdrill_max_percentage`` cap would be
    exceeded.
    """
    args = {
        "selector": selector,
        "count": count,
        "percentage": percentage,
        "namespace": namespace,
        "grace_period_s": grace_period_s,
        "allow_all": allow_all,
    }
    return faults.inject("pod_kill", configuration, args)
