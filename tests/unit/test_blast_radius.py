"""The one namespace allowlist, and the DC allowlist on Kubernetes (no sandbox to expand globs)."""

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosdrill.drivers.kube.guards import namespace_problem
from chaosdrill.errors import BadInput
from chaosdrill.faults import blast
from chaosdrill.faults.kind import Plan, Share

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("namespace", "allowed", "problem"),
    [
        ("default", None, None),
        ("kube-system", None, "system namespace"),
        ("", None, "must not be empty"),
        ("llm", ["llm"], None),
        ("default", ["llm"], "not in configuration.chaosdrill_allow_namespaces ['llm']"),
        ("kube-system", ["kube-system"], None),
    ],
)
def test_namespace_allowlist(namespace: str, allowed: list[str] | None, problem: str | None) -> None:
    found = namespace_problem(namespace, allowed)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def _plan(dc: str = "", share: Share | None = None, namespace: str = "") -> Plan:
    return Plan(
        key="k",
        description="d",
        undo={},
        dc_selector=dc,
        dcs=(dc,) if dc else (),
        namespaces=(namespace,) if namespace else (),
        share=share,
    )


def test_a_dc_outside_the_allowlist_is_refused_on_any_target() -> None:
    conf = {"chaosdrill_target": "kubernetes", "chaosdrill_allow_dcs": ["dc1"]}
    blast.check(_plan("dc1"), conf)
    with pytest.raises(ActivityFailed, match=r"dc='dc3' reaches \['dc3'\]"):
        blast.check(_plan("dc3"), conf)


def test_no_dc_allowlist_allows_every_dc() -> None:
    blast.check(_plan("dc9"), {"chaosdrill_target": "kubernetes"})


def test_the_share_cap_and_the_namespace_allowlist_hold_for_every_kind() -> None:
    conf = {"chaosdrill_max_percentage": 25, "chaosdrill_allow_namespaces": ["llm"]}
    blast.check(_plan(share=Share(1, 4), namespace="llm"), conf)
    with pytest.raises(ActivityFailed, match=r"touching 2 of 4 \(50%\) exceeds the allowed 25%"):
        blast.check(_plan(share=Share(2, 4)), conf)
    with pytest.raises(BadInput, match="chaosdrill_allow_namespaces"):
        blast.check(_plan(namespace="default"), conf)
    assert (
        len(blast.problems(_plan("dc2", Share(4, 4), "default"), {**conf, "chaosdrill_allow_dcs": ["dc1"]}))
        == 3
    )


def test_amounts_round_up_and_refuse_both_or_bad_values() -> None:
    assert blast.amount(10, None, 25.0) == Share(3, 10)
    assert blast.amount(10, 12, None) == Share(10, 10)
    assert blast.amount(10, None, None, default_count=1) == Share(1, 10)
    assert blast.amount(10, None, None) == Share(10, 10)
    for count, percentage in ((1, 10.0), (-1, None), (None, 101.0), (True, None)):
        with pytest.raises(BadInput):
            blast.amount(10, count, percentage)
