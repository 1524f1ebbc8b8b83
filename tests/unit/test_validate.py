"""`chaosdrill validate`: kind detection, messages naming file, path and expected type; the
ledger control's pre-run check."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosdrill import cli
from chaosdrill.controls import ledger as ledger_control
from chaosdrill.errors import BadInput
from chaosdrill.validate import Kind, check_run, validate_file

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = REPO / "experiments" / "sandbox" / "kill-half-dc-replicas.yaml"


def _experiment() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXPERIMENT.read_text())
    return data


def _write(tmp_path: Path, data: Any, name: str = "e.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "path",
    [
        *sorted(REPO.glob("experiments/*/*.yaml")),
        *sorted(REPO.glob("runbooks/*.md")),
        *sorted(REPO.glob("ci/plans/*.yaml")),
    ],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_shipped_files_are_valid(path: Path) -> None:
    assert validate_file(path) in set(Kind)


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("chaosdrill_max_percentage", 150, "configuration.chaosdrill_max_percentage", "within 0..100"),
        ("chaosdrill_max_percentage", "half", "configuration.chaosdrill_max_percentage", "got string"),
        ("chaosdrill_target", "k8s", "configuration.chaosdrill_target", "one of sandbox, kubernetes"),
        ("chaosdrill_allow_dcs", "dc1", "configuration.chaosdrill_allow_dcs", "list of names"),
        ("chaosdrill_allow_production", "yes", "configuration.chaosdrill_allow_production", "a boolean"),
    ],
)
def test_configuration_errors_name_path_and_type(
    tmp_path: Path, key: str, value: Any, field: str, expected: str
) -> None:
    data = _experiment()
    data["configuration"][key] = value
    path = _write(tmp_path, data)
    with pytest.raises(BadInput) as err:
        validate_file(path)
    assert (err.value.source, err.value.field) == (str(path), field)
    assert expected in err.value.problem


def test_env_references_are_accepted(tmp_path: Path) -> None:
    data = _experiment()
    data["configuration"]["chaosdrill_max_percentage"] = {"type": "env", "key": "PCT", "default": 50}
    assert validate_file(_write(tmp_path, data)) is Kind.EXPERIMENT


def test_kubernetes_needs_a_context(tmp_path: Path) -> None:
    data = _experiment()
    data["configuration"]["chaosdrill_target"] = "kubernetes"
    with pytest.raises(BadInput, match="kube_context"):
        validate_file(_write(tmp_path, data))
    data["configuration"]["kube_context"] = "prod-eu"
    with pytest.raises(BadInput, match="looks like production"):
        validate_file(_write(tmp_path, data))


def test_load_profile_checked_like_the_load_generator(tmp_path: Path) -> None:
    data = _experiment()
    data["controls"][1]["provider"]["arguments"]["profile"]["streams"][1]["name"] = "chat"
    with pytest.raises(BadInput) as err:
        validate_file(_write(tmp_path, data))
    assert err.value.field == "controls[1].provider.arguments.profile.streams"
    assert "unique" in err.value.problem


def test_chaoslib_validation_runs(tmp_path: Path) -> None:
    data = _experiment()
    data["method"][0]["provider"]["arguments"]["no_such_argument"] = 1
    with pytest.raises(BadInput) as err:
        validate_file(_write(tmp_path, data))
    assert err.value.field == "<experiment>"
    assert "chaoslib" in err.value.problem


def test_expectation_required_in_files_not_in_runs(tmp_path: Path) -> None:
    data = _experiment()
    del data["extensions"]
    with pytest.raises(BadInput, match="expect"):
        validate_file(_write(tmp_path, data))
    check_run(data, data["configuration"])


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"\xff\xfe", "<file>"),
        (b"a: [1\n", "line 2, column 1"),
        (b"- 1\n- 2\n", "<top>"),
        (b"colour: red\n", "<top>"),
        (b"{1: 2}\n", "1"),
    ],
)
def test_malformed_files(tmp_path: Path, content: bytes, field: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(content)
    with pytest.raises(BadInput) as err:
        validate_file(path)
    assert (err.value.source, err.value.field) == (str(path), field)


def test_cli_reports_every_file_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nmethod: 5\n")
    rc = cli.main(["validate", "--json", str(EXPERIMENT), str(bad), str(tmp_path / "missing.yaml")])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 2
    assert [r["ok"] for r in rows] == [True, False, False]
    assert rows[1]["field"] == "method" and "expected array, got integer" in rows[1]["problem"]
    assert "cannot read" in rows[2]["problem"]
    assert cli.main(["validate", str(EXPERIMENT)]) == 0


def test_ledger_control_refuses_before_the_experiment(monkeypatch: pytest.MonkeyPatch) -> None:
    from chaoslib.exceptions import InterruptExecution

    from chaosdrill.runctx import PHASE_ENV, RUN_ID_ENV

    for name in (RUN_ID_ENV, PHASE_ENV):  # the control sets them; undo after the test
        monkeypatch.delenv(name, raising=False)

    data = _experiment()
    ledger_control.configure_control(experiment=data, configuration={"chaosdrill_max_percentage": 500})
    with pytest.raises(InterruptExecution, match="chaosdrill_max_percentage"):
        ledger_control.before_experiment_control(context=data)
    ledger_control.configure_control(experiment=data, configuration=data["configuration"])
    ledger_control.before_experiment_control(context=data)  # valid: no exception
