"""Fuzz `chaosdrill validate` with malformed documents made by mutating valid ones.

Each mutation is drawn from a table of changes that are invalid by construction (a
required key dropped, a wrong type, a value outside its enum or range, garbage bytes), so
every generated document must be refused: exit 2 through ``cli.main``, a message naming
the file, and never an internal error (an exception other than BadInput inside a
validator). Hypothesis runs derandomized with no deadline, so CI sees the same documents.
"""

import contextlib
import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaosdrill import cli

pytestmark = [pytest.mark.unit, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = 1000
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

Doc = Any
Path_ = tuple[str | int, ...]

# ---------------------------------------------------------------------------- value strategies

NOT_STRING = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
NOT_NUMBER = st.one_of(st.text(max_size=5), st.booleans(), st.none(), st.lists(st.integers(), max_size=2))
NOT_LIST = st.one_of(
    st.text(max_size=5),
    st.integers(),
    st.booleans(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
NOT_BOOL = st.one_of(st.text(max_size=5), st.integers(), st.none(), st.lists(st.integers(), max_size=1))
NOT_OBJECT = st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.lists(st.integers(), max_size=2))
BAD_NAMES = st.one_of(
    st.just([]),
    NOT_LIST,
    st.lists(st.one_of(st.integers(), st.just(""), st.booleans()), min_size=1, max_size=3),
)


def not_in(*allowed: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.text(max_size=12).filter(lambda s: s not in allowed), st.integers(), st.none())


def outside(low: float, high: float, *, low_open: bool = False) -> st.SearchStrategy[Any]:
    below = st.floats(max_value=low, exclude_max=not low_open, allow_nan=False, allow_infinity=False)
    above = st.floats(min_value=high, exclude_min=True, allow_nan=False, allow_infinity=False)
    return st.one_of(
        below, above, st.integers(max_value=int(low) - 1), st.integers(min_value=int(high) + 1), NOT_NUMBER
    )


BAD_MODULES = st.sampled_from(["", "1abc", "a b", "probes..slo", "-x", "probes.slo."]) | NOT_STRING


# ---------------------------------------------------------------------------- mutation machinery


def _parent(doc: Doc, path: Path_) -> tuple[Any, Any]:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


def drop(path: Path_) -> st.SearchStrategy[Callable[[Doc], None]]:
    def apply(doc: Doc) -> None:
        node, key = _parent(doc, path)
        del node[key]

    return st.just(apply)


def put(path: Path_, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Callable[[Doc], None]]:
    def make(value: Any) -> Callable[[Doc], None]:
        def apply(doc: Doc) -> None:
            node, key = _parent(doc, path)
            node[key] = value

        return apply

    return values.map(make)


GARBAGE_TEXTS = [
    b"\xff\xfe\x00garbage",
    b"title: [unclosed\n",
    b"a: b\n\tc: d\n",
    b"- - - -\n  : :\n",
    b"[" * 3000 + b"]" * 3000,
    b'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n'
    b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    b"method: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
    b"when: 2024-13-45\nmethod: []\n",
    b"n: 1" + b"9" * 6000 + b"\nmethod: []\n",
    b"x: !!python/object/apply:os.system ['true']\n",
    b"? [a, b]\n: c\n",
    b"",
    b"just a string",
    b"42",
    b"{1: 2, 3: 4}",
    b"method: 1.0e+999\n",
]
GARBAGE = st.one_of(
    st.sampled_from(GARBAGE_TEXTS),
    st.binary(max_size=64).map(lambda b: b"\xff" + b),  # never UTF-8
)


def _dump(doc: Doc) -> bytes:
    """JSON: a YAML subset that parses ~4x faster, so 1,000s of documents fit in the time budget."""
    return json.dumps(doc).encode("utf-8")


_PARSER = cli.build_parser()


def _main(argv: list[str]) -> int:
    """``cli.main`` with its argument parser built once: building it costs more than validating."""
    real = cli.build_parser
    cli.build_parser = lambda: _PARSER  # type: ignore[assignment]
    try:
        return cli.main(argv)
    finally:
        cli.build_parser = real  # type: ignore[assignment]


def _check_refused(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = _main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert rc == 2, f"accepted a malformed document:\n{path.read_bytes()[:2000]!r}\n{out}{err}"
    assert f"INVALID  {path}" in out, out + err
    assert "internal error" not in out, f"{out}\n{path.read_bytes()[:2000]!r}"


def _fuzz(
    base: Doc,
    target: Path,
    mutations: list[st.SearchStrategy[Callable[[Doc], None]]],
    capsys: pytest.CaptureFixture[str],
    render: Callable[[Doc], bytes] = _dump,
) -> int:
    seen = 0

    @FUZZ
    @given(
        st.one_of(
            st.lists(st.one_of(*mutations), min_size=1, max_size=3).map(lambda fs: ("mutate", fs)),
            GARBAGE.map(lambda g: ("garbage", g)),
        )
    )
    def run(case: tuple[str, Any]) -> None:
        nonlocal seen
        kind, payload = case
        if kind == "garbage":
            path = target.with_suffix(".md" if target.suffix == ".md" else ".yaml")
            path.write_bytes(payload)
            _check_refused(path, capsys)
            seen += 1
            return
        else:
            doc = copy.deepcopy(base)
            for mutate in payload:
                # An earlier mutation may have removed or retyped the parent: still malformed.
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    mutate(doc)
            target.write_bytes(render(doc))
        _check_refused(target, capsys)
        seen += 1

    run()
    return seen


# ---------------------------------------------------------------------------- fixtures: valid bases


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-repo")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "experiments" / "sandbox").mkdir(parents=True)
    for name in ("kill-half-dc-replicas.yaml", "redis-unreachable.yaml"):
        shutil.copy(REPO / "experiments" / "sandbox" / name, root / "experiments" / "sandbox" / name)
    (root / "runbooks").mkdir()
    shutil.copy(REPO / "runbooks" / "az-degradation.md", root / "runbooks" / "az.md")
    text = (root / "runbooks" / "az.md").read_text()
    (root / "runbooks" / "az.md").write_text(
        text.replace("experiment: experiments/sandbox/az-latency-breaker.yaml\n", "")
    )
    (root / "topology.yaml").write_text("dcs: [dc1, dc2]\n")
    return root


def _valid(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = _main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert rc == 0, out + err


# ---------------------------------------------------------------------------- experiments

EXPERIMENT_MUTATIONS = [
    drop(("title",)),
    drop(("method",)),
    drop(("extensions",)),
    drop(("extensions", 0, "expect", "status")),
    drop(("method", 0, "name")),
    drop(("method", 0, "type")),
    drop(("method", 0, "provider", "func")),
    drop(("steady-state-hypothesis", "title")),
    drop(("controls", 1, "provider", "arguments", "profile")),
    put(("title",), NOT_STRING | st.just("")),
    put(("description",), NOT_STRING),
    put(("tags",), NOT_LIST | st.lists(st.integers(), min_size=1, max_size=2)),
    put(("configuration",), NOT_OBJECT),
    put(("configuration", "chaosdrill_target"), not_in("sandbox", "kubernetes")),
    put(("configuration", "chaosdrill_max_percentage"), outside(0, 100)),
    put(("configuration", "chaosdrill_allow_dcs"), BAD_NAMES),
    put(("configuration", "chaosdrill_allow_namespaces"), BAD_NAMES),
    put(("configuration", "chaosdrill_allow_production"), NOT_BOOL),
    put(("configuration", "kube_context"), NOT_STRING | st.just("")),
    put(("configuration", "kubeconfig"), NOT_STRING | st.just("")),
    put(("configuration", "slo_availability"), outside(0, 1, low_open=True)),
    put(("extensions",), NOT_LIST),
    put(("extensions", 0), NOT_OBJECT),
    put(("extensions", 0, "expect"), NOT_OBJECT | st.none()),
    put(
        ("extensions", 0, "expect", "status"),
        not_in("completed", "deviated", "failed", "aborted", "interrupted"),
    ),
    put(("extensions", 0, "expect", "typo"), st.integers()),
    put(("method",), NOT_LIST),
    put(("method", 0), NOT_OBJECT),
    put(("method", 0, "type"), not_in("action", "probe")),
    put(("method", 0, "name"), NOT_STRING | st.just("")),
    put(("method", 0, "provider"), NOT_OBJECT),
    put(("method", 0, "provider", "type"), not_in("python", "process", "http")),
    put(
        ("method", 0, "provider", "module"),
        BAD_MODULES | st.sampled_from(["actions.nope", "chaosdrill_missing_mod"]),
    ),
    put(("method", 0, "provider", "func"), st.sampled_from(["no_such_action", "1x", ""]) | NOT_STRING),
    put(("method", 0, "provider", "arguments", "nonexistent_argument"), st.integers()),
    put(
        ("method", 0, "provider", "arguments"),
        st.integers() | st.booleans() | st.lists(st.integers(), max_size=2),
    ),
    put(("method", 0, "pauses", "after"), outside(0, 86400)),
    put(("steady-state-hypothesis",), NOT_OBJECT),
    put(("steady-state-hypothesis", "probes"), NOT_LIST),
    put(("steady-state-hypothesis", "probes", 0, "provider", "func"), st.just("no_such_probe")),
    put(("controls",), NOT_LIST),
    put(("controls", 0, "provider", "type"), not_in("python")),
    put(("controls", 1, "provider", "arguments", "warmup_s"), outside(0, 600)),
    put(("controls", 1, "provider", "arguments", "colour"), st.integers()),
    put(("controls", 1, "provider", "arguments", "profile", "streams"), st.just([]) | NOT_LIST),
    put(
        ("controls", 1, "provider", "arguments", "profile", "streams", 0, "rate"),
        outside(0, 1_000_000, low_open=True),
    ),
    put(
        ("controls", 1, "provider", "arguments", "profile", "streams", 0, "priority"),
        not_in("interactive", "batch"),
    ),
    put(
        ("controls", 1, "provider", "arguments", "profile", "streams", 1, "name"), st.just("chat")
    ),  # duplicate name
]


def test_fuzz_experiments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = yaml.safe_load((REPO / "experiments/sandbox/kill-half-dc-replicas.yaml").read_text())
    target = tmp_path / "experiment.json"
    target.write_bytes(_dump(base))
    _valid(target, capsys)
    assert _fuzz(base, target, EXPERIMENT_MUTATIONS, capsys) >= EXAMPLES


# ---------------------------------------------------------------------------- drill plans

BAD_CRON = st.sampled_from(["every month", "61 * * * *", "* * *", "0 3 1 * * * * *", "", "@sometimes"])
PLAN_MUTATIONS = [
    drop(("name",)),
    drop(("target",)),
    drop(("schedule",)),
    drop(("experiments",)),
    put(("name",), NOT_STRING | st.just("")),
    put(("target",), not_in("sandbox", "kubernetes")),
    put(("schedule",), BAD_CRON | NOT_STRING),
    put(("experiments",), st.just([]) | NOT_LIST),
    put(
        ("experiments", 0),
        NOT_STRING | st.sampled_from(["experiments/none/*.yaml", "experiments/x.yaml", "/abs/x.yaml"]),
    ),
    put(("rehearsals",), NOT_LIST | st.just(["experiments/sandbox/*.yaml"]) | st.just(["runbooks/none.md"])),
    put(("slo",), NOT_OBJECT),
    put(("slo", "availability"), outside(0, 1, low_open=True)),
    put(
        ("slo", "latency_p99_ms"), st.floats(max_value=0, allow_nan=False, allow_infinity=False) | NOT_NUMBER
    ),
    put(("slo", "availibility"), st.floats(0.1, 0.9)),
    put(("timeout_s",), st.floats(max_value=0, allow_nan=False, allow_infinity=False) | NOT_NUMBER),
    put(("topology",), st.just("nope.yaml") | NOT_STRING),
    put(("root",), st.just("does/not/exist") | NOT_STRING),
    put(("configuration",), NOT_OBJECT),
    put(("colour",), st.text(max_size=4)),
]


def test_fuzz_plans(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = {
        "name": "fuzz",
        "target": "sandbox",
        "schedule": "0 3 1 * *",
        "experiments": ["experiments/sandbox/*.yaml"],
        "rehearsals": ["runbooks/az.md"],
        "topology": "topology.yaml",
        "slo": {"availability": 0.995, "latency_p99_ms": 1000},
        "timeout_s": 600,
    }
    target = repo / "plan.json"
    target.write_bytes(_dump(base))
    _valid(target, capsys)
    assert _fuzz(base, target, PLAN_MUTATIONS, capsys) >= EXAMPLES


# ---------------------------------------------------------------------------- runbooks

RUNBOOK_MUTATIONS = [
    drop(("title",)),
    drop(("severity",)),
    drop(("triggers",)),
    drop(("steps",)),
    drop(("steps", 0, "timeout_s")),
    drop(("steps", 1, "check", "func")),
    put(("title",), NOT_STRING | st.just("")),
    put(("severity",), not_in("P0", "P1")),
    put(("service",), NOT_STRING | st.just("")),
    put(("triggers",), st.just([]) | NOT_LIST),
    put(("triggers", 0), NOT_STRING | st.sampled_from(["has space", "1starts-with-digit", ""])),
    put(("steps",), st.just([]) | NOT_LIST),
    put(("steps", 0), NOT_OBJECT),
    put(("steps", 0, "timeout_s"), outside(0, 86400, low_open=True)),
    put(("steps", 0, "name"), NOT_STRING | st.just("")),
    put(("steps", 2, "name"), st.just("confirm-scope")),  # repeats step 0
    put(("steps", 0, "action"), NOT_STRING | st.just("")),
    put(("steps", 0, "colour"), st.integers()),
    put(("steps", 1, "check"), NOT_OBJECT),
    put(
        ("steps", 1, "check", "module"),
        BAD_MODULES | st.sampled_from(["probes.nope", "no_such_top_level_pkg_x"]),
    ),
    put(("steps", 1, "check", "func"), st.sampled_from(["no_such_probe", "1x"]) | NOT_STRING),
    put(("steps", 1, "check", "arguments"), st.just({"bogus_argument": 1}) | NOT_OBJECT),
    put(
        ("experiment",),
        st.sampled_from(["experiments/none.yaml", "/abs/x.yaml", "notes.txt", ""]) | NOT_STRING,
    ),
    put(("owner",), NOT_STRING),
    put(("colour",), st.text(max_size=4)),
]


def _front_matter(doc: Doc) -> bytes:
    """Real YAML (JSON numbers such as 5e-324 are strings to a YAML 1.1 parser)."""
    dumped = yaml.dump(doc, Dumper=yaml.CSafeDumper, allow_unicode=True).encode("utf-8")
    return b"---\n" + dumped + b"---\n# Body\n\nText.\n"


def test_fuzz_runbooks(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (repo / "runbooks" / "az.md").read_text()
    base = yaml.safe_load(text.split("---\n")[1])
    target = repo / "runbooks" / "fuzz.md"
    target.write_bytes(_front_matter(base))
    _valid(target, capsys)
    assert _fuzz(base, target, RUNBOOK_MUTATIONS, capsys, render=_front_matter) >= EXAMPLES


@pytest.mark.parametrize(
    "text",
    [
        "no front matter\n",
        "---\ntitle: x\n",
        "---\n- a list\n---\n",
        "---\n---\nbody\n",
        "\n---\ntitle: x\n---\n",
    ],
)
def test_runbook_front_matter_shapes_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "r.md"
    path.write_text(text)
    _check_refused(path, capsys)


# ---------------------------------------------------------------------------- topologies

TOPOLOGY_MUTATIONS = [
    put(("dcs",), st.just([]) | NOT_LIST | st.just(["dc 1"]) | st.just(["dc1", "dc1"])),
    put(("azs",), st.just([]) | NOT_LIST | st.just(["az_a!"])),
    put(
        ("replicas_per_az",),
        st.integers(max_value=-1) | st.integers(min_value=6) | NOT_NUMBER | st.floats(0.1, 0.9),
    ),
    put(
        ("restart_delay_s",), st.floats(max_value=-0.001, allow_nan=False, allow_infinity=False) | NOT_NUMBER
    ),
    put(("autoscaler",), NOT_OBJECT),
    put(("autoscaler", "target_utilization"), outside(0, 1, low_open=True)),
    put(("autoscaler", "min_replicas"), st.integers(max_value=0) | NOT_NUMBER),
    put(("autoscaler", "enabled"), NOT_BOOL),
    put(("gateway",), NOT_OBJECT),
    put(("gateway", "breaker"), NOT_OBJECT),
    put(("gateway", "breaker", "failure_ratio"), outside(0, 1, low_open=True)),
    put(("gateway", "batch_share"), outside(0, 1, low_open=True)),
    put(
        ("gateway", "rate_limit", "tenants"),
        NOT_OBJECT | st.just({"bad tenant": 1.0}) | st.just({"t": "fast"}),
    ),
    put(("replica",), NOT_OBJECT),
    put(("replica", "slots"), st.integers(max_value=0) | NOT_NUMBER),
    put(("replica", "colour"), st.integers()),
    put(("colour",), st.integers()),
]


def test_fuzz_topologies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = {
        "dcs": ["dc1", "dc2"],
        "azs": ["az-a", "az-b"],
        "replicas_per_az": 2,
        "restart_delay_s": 1.0,
        "replica": {"slots": 2},
        "gateway": {
            "breaker": {"failure_ratio": 0.5},
            "batch_share": 0.6,
            "rate_limit": {"tenants": {"burst": 40.0}},
        },
        "autoscaler": {"min_replicas": 2, "max_replicas": 5, "target_utilization": 0.7, "enabled": True},
    }
    target = tmp_path / "topology.json"
    target.write_bytes(_dump(base))
    _valid(target, capsys)
    assert _fuzz(base, target, TOPOLOGY_MUTATIONS, capsys) >= EXAMPLES


# ---------------------------------------------------------------------------- real processes


@pytest.mark.parametrize("content", [*GARBAGE_TEXTS[:6], b"title: x\nmethod: 5\n"])
def test_subprocess_exit_2_without_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "chaosdrill.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert str(path) in done.stdout
