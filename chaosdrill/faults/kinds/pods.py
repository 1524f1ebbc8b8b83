"""Kill pods: SIGKILL sandbox replica processes, or delete Kubernetes pods.

A kill needs no undo: the sandbox supervisor (or the ReplicaSet) brings replacements up,
so its ledger entry closes as soon as the kill is verified, the same way on both targets.
The selector is a Kubernetes equality selector; sandbox replicas carry the labels ``dc``,
``az``, ``pool`` and ``component``.
"""

import contextlib
import random
import signal
import time
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from chaosdrill.drivers.kube.client import (
    DC_LABEL,
    KubeTarget,
    call,
    delete_pod,
    live_pod_metadata,
    live_pod_uids,
    parallel,
)
from chaosdrill.drivers.kube.marks import Mark
from chaosdrill.drivers.sandbox import Replica, SandboxDriver, parse_selector
from chaosdrill.drivers.target import Target
from chaosdrill.errors import ActivityFailed, BadInput, FaultNotApplied
from chaosdrill.faults.blast import amount, check_selects_all
from chaosdrill.faults.kind import Env, FaultKind, Plan

__all__ = ["KINDS", "KillPods", "KillReplicas"]

ACTIVITIES = {"actions.pods.kill_pods": "inject"}


NO_DC = "<no chaosdrill.io/datacenter label>"


def _dcs_of(labels: Iterable[Mapping[str, str]], key: str = "dc") -> tuple[str, ...]:
    """The DCs a selection reaches, from each replica's or pod's labels. One without a DC
    label counts as a DC no allowlist names, so an allowlist refuses it (fail closed)."""
    return tuple(sorted({str(lab.get(key) or NO_DC) for lab in labels}))


class InstanceUndo(TypedDict):
    """Nothing to undo but where: the sandbox instance the kill was made on."""

    instance: str


class KillReplicas(FaultKind):
    """SIGKILL ``count`` (or ``percentage``%, or one) of the sandbox replicas matching ``selector``.

    The DC allowlist is checked on every replica the selector matches, not only on the
    victims: a selection reaching past the allowlist is refused, as a link glob is. A
    selector that matches every replica of the sandbox (or is empty) is refused unless
    ``allow_all`` is true.
    """

    name = "pod_kill"
    targets = (Target.SANDBOX,)
    activities = ACTIVITIES
    takes_ttl = False
    instant = True

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        return f"kill:{args.get('selector', '')}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        selector = str(args.get("selector", ""))
        terms = parse_selector(selector)
        sandbox: SandboxDriver = env.drivers.sandbox()
        matched = sandbox.replicas(terms)
        if not matched:
            raise ActivityFailed(f"selector {selector!r} matches no sandbox replica")
        everyone = not terms or len(matched) == len(sandbox.replicas({}))
        check_selects_all(selector, everyone, args.get("allow_all", False), "every replica of the sandbox")
        share = amount(len(matched), args.get("count"), args.get("percentage"), default_count=1)
        victims = sorted(matched, key=lambda r: r.name)[: share.n]
        return Plan(
            key=self.key(env, args),
            description=f"SIGKILL {share.n} of {len(matched)} replicas matching {selector!r}",
            undo=InstanceUndo(instance=sandbox.instance_id),
            touches=tuple(f"replica {r.name} (pid {r.pid}): SIGKILL" for r in victims),
            details={
                "replicas": [{"name": r.name, "pid": r.pid} for r in victims],
                "matched": [r.name for r in matched],
            },
            dc_selector=terms.get("dc", ""),
            dcs=_dcs_of(r.labels for r in matched),
            share=share,
            work={"sandbox": sandbox, "victims": victims, "matched": matched},
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        sandbox: SandboxDriver = plan.work["sandbox"]
        victims: list[Replica] = plan.work["victims"]
        for r in victims:
            with contextlib.suppress(ProcessLookupError):  # already dead is fine
                sandbox.kill(r.pid, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        survivors = [r.name for r in victims if sandbox.is_alive(r.pid)]
        while survivors and time.monotonic() < deadline:
            time.sleep(0.02)
            survivors = [r.name for r in victims if sandbox.is_alive(r.pid)]
        if survivors:
            raise FaultNotApplied(f"replicas {survivors} survived SIGKILL")
        return {"killed": [r.name for r in victims], "matched": len(plan.work["matched"]), "at": time.time()}

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        """Nothing to undo: the supervisor restores the replica count on its own."""


class KillPods(FaultKind):
    """Delete ``count`` pods (or ``percentage``% rounded up; neither: one) matching ``selector``.

    An empty selector (every pod of the namespace) is refused unless ``allow_all`` is true.
    The DC allowlist is checked on the ``chaosdrill.io/datacenter`` label of every matching
    pod (victims are chosen at random, so the whole selection must be inside it); with an
    allowlist set, a matching pod without that label is refused.

    Pods are chosen at random among live ones and deleted in parallel, each with a uid
    precondition: a pod already gone is skipped (404), and one replaced meanwhile under the
    same name (a StatefulSet's) is not deleted: the API answers 409 and the call fails. With
    no grace period the pods must be gone at once: a second list proves it.

    Not ``deletecollection``: it takes one label selector and no per-pod uid precondition,
    so it cannot delete a random subset, and it would also delete the replacements the
    ReplicaSet creates while it runs.
    """

    name = "pod_kill"
    targets = (Target.KUBERNETES,)
    activities = ACTIVITIES
    takes_ttl = False
    instant = True

    def key(self, env: Env, args: Mapping[str, Any]) -> str:
        context = env.configuration.get("kube_context", "")
        return f"pod_kill/{context}/{args.get('namespace', 'default')}/{args.get('selector', '')}"

    def plan(self, env: Env, args: Mapping[str, Any]) -> Plan:
        selector, namespace = str(args.get("selector", "")), str(args.get("namespace", "default"))
        grace = args.get("grace_period_s", 0)
        if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
            raise BadInput("<experiment>", "grace_period_s", f"must be >= 0, got {grace}")
        amount(1, args.get("count"), args.get("percentage"))  # bad amounts fail before any call
        check_selects_all(
            selector,
            not selector.strip(),
            args.get("allow_all", False),
            f"every pod of namespace {namespace!r}",
        )
        target: KubeTarget = env.drivers.kube(env.configuration)
        target.check_namespace(namespace)
        began = time.monotonic()
        metas = live_pod_metadata(target, namespace, selector)
        listed_s = time.monotonic() - began
        uids = {name: str(meta.get("uid", "")) for name, meta in metas.items()}
        if not uids:
            raise ActivityFailed(f"kill_pods: no live pods match {selector!r} in namespace {namespace!r}")
        share = amount(len(uids), args.get("count"), args.get("percentage"), default_count=1)
        victims = sorted(random.sample(sorted(uids), share.n))
        return Plan(
            key=self.key(env, args),
            description=f"delete {share.n} of {len(uids)} pods {selector!r} in {namespace}",
            undo=target.where(),
            touches=tuple(f"pod {namespace}/{name}: delete" for name in victims),
            details={"pods": victims, "matched": len(uids)},
            dcs=_dcs_of((meta.get("labels") or {} for meta in metas.values()), DC_LABEL),
            namespaces=(namespace,),
            share=share,
            work={
                "target": target,
                "selector": selector,
                "uids": uids,
                "victims": victims,
                "grace": grace,
                "listed_s": listed_s,
            },
        )

    def apply(self, env: Env, plan: Plan, mark: Mark) -> dict[str, Any]:
        target: KubeTarget = plan.work["target"]
        uids: dict[str, str] = plan.work["uids"]
        grace: int = plan.work["grace"]
        namespace, selector = plan.namespaces[0], str(plan.work["selector"])

        def delete(name: str) -> str | None:
            return name if delete_pod(target, namespace, name, uids[name], grace) else None

        start = time.monotonic()
        killed = [n for n in call("delete pods", lambda: parallel(delete, plan.work["victims"])) if n]
        deleted_s = time.monotonic() - start
        if grace == 0:
            still = set(live_pod_uids(target, namespace, selector).values()) & {uids[n] for n in killed}
            if still:
                raise FaultNotApplied(
                    f"kill_pods: {len(still)} of {len(killed)} pods still live after delete"
                )
        return {
            "killed": killed,
            "matched": len(uids),
            "namespace": namespace,
            "selector": selector,
            "list_s": round(plan.work["listed_s"], 3),
            "delete_s": round(deleted_s, 3),
            "verify_s": round(time.monotonic() - start - deleted_s, 3),
        }

    def undo(self, drivers: Any, undo: Mapping[str, Any]) -> None:
        """Nothing to undo: the ReplicaSet is the undo."""


KINDS = (KillReplicas(), KillPods())
