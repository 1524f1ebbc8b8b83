"""The one namespace allowlist, and the DC allowlist on Kubernetes (no sandbox to expand globs)."""

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosdrill.activity import check_dc_allowed, namespace_problem

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


def test_kubernetes_dc_outside_the_allowlist_is_refused_without_a_sandbox() -> None:
    conf = {"chaosdrill_target": "kubernetes", "chaosdrill_allow_dcs": ["dc1"]}
    check_dc_allowed("dc1", conf)
    with pytest.raises(ActivityFailed, match=r"dc='dc3' reaches \['dc3'\]"):
        check_dc_allowed("dc3", conf)


def test_no_dc_allowlist_allows_every_dc() -> None:
    check_dc_allowed("dc9", {"chaosdrill_target": "kubernetes"})
