"""Request templates where users give them: `chaosdrill load run --request-template`, the load
control's arguments and `chaosdrill validate`. Bad input exits 2 naming the file and the field."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosdrill import cli
from chaosdrill.controls import load as load_control
from chaosdrill.errors import BadInput
from chaosdrill.validate import validate_file

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = REPO / "experiments" / "sandbox" / "kill-half-dc-replicas.yaml"
TEMPLATE = {"base_url": "http://127.0.0.1:1", "requests": {"default": {"path": "/items/{user}"}}}


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOSDRILL_HOME", str(tmp_path / "home"))


def _write(tmp_path: Path, data: Any, name: str) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_bad_template_names_file_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(
        tmp_path, {"endpoints": {**TEMPLATE, "requests": {"default": {"path": "/{id}"}}}}, "sys.yaml"
    )
    argv = ["load", "run", "--request-template", str(bad), "--rate", "5", "--duration", "1"]
    assert cli.main(argv) == cli.EXIT_INVALID
    assert f"{bad}: endpoints.requests.default.path: unknown placeholder {{id}}" in capsys.readouterr().err


def test_cli_url_override_is_checked_as_a_base_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path, TEMPLATE, "endpoints.yaml")
    argv = [
        "load",
        "run",
        "--request-template",
        str(good),
        "--url",
        "http://h/x?q=1",
        "--rate",
        "5",
        "--duration",
        "1",
    ]
    assert cli.main(argv) == cli.EXIT_INVALID
    assert "<argument>: --url: must not have a query" in capsys.readouterr().err


def _with_load_arguments(**arguments: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXPERIMENT.read_text())
    data["controls"][1]["provider"]["arguments"].update(arguments)
    return data


def test_validate_checks_the_load_controls_templates(tmp_path: Path) -> None:
    good = _with_load_arguments(endpoints={**TEMPLATE, "outcomes": {"degraded": {"json_field": "stale"}}})
    validate_file(_write(tmp_path, good, "good.yaml"))
    bad = _with_load_arguments(endpoints={**TEMPLATE, "outcomes": {"rejected_statuses": [200]}})
    with pytest.raises(BadInput) as err:
        validate_file(_write(tmp_path, bad, "bad.yaml"))
    assert err.value.field == "controls[1].provider.arguments.endpoints.outcomes.rejected_statuses[0]"
    missing = _with_load_arguments(endpoints={**TEMPLATE, "requests": {"writer": {"path": "/w"}}})
    with pytest.raises(BadInput) as err:
        validate_file(_write(tmp_path, missing, "missing.yaml"))
    assert err.value.field == "controls[1].provider.arguments.endpoints.requests"
    assert "no template for stream 'chat'" in err.value.problem


def test_the_control_rejects_a_profile_url_beside_templates() -> None:
    with pytest.raises(BadInput) as err:
        load_control.before_experiment_control(
            None,
            profile={"url": "http://127.0.0.1:1/x", "streams": [{"name": "s", "rate": 1}]},
            endpoints=TEMPLATE,
        )
    assert err.value.field == "profile.url"


def test_the_control_names_bad_template_arguments() -> None:
    with pytest.raises(BadInput) as err:
        load_control.before_experiment_control(
            None,
            profile={"streams": [{"name": "s", "rate": 1}]},
            endpoints={**TEMPLATE, "requests": {"default": {"path": "/x", "method": "BREW"}}},
        )
    assert err.value.source == load_control.ARGUMENTS
    assert err.value.field == "endpoints.requests.default.method"
