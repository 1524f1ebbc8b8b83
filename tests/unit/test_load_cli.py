"""``chaosdrill load run`` argument handling: bad flags exit 2 naming the flag."""

from pathlib import Path

import pytest

from chaosdrill import cli

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOSDRILL_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--url", "http://127.0.0.1:1/x", "--rate", "-5", "--duration", "3"], "--rate"),
        (["--url", "http://127.0.0.1:1/x", "--duration", "3"], "--rate"),
        (["--rate", "5", "--duration", "3"], "--url"),
        (["--url", "http://127.0.0.1:1/x", "--rate", "5"], "--duration"),
        (["--url", "gopher://x", "--rate", "5", "--duration", "3"], "--url"),
        (["--url", "http://127.0.0.1:1/x", "--rate", "5", "--duration", "0"], "--duration"),
        (["--url", "http://127.0.0.1:1/x", "--rate", "5", "--duration", "3", "--users", "0"], "--users"),
        (["--url", "http://127.0.0.1:1/x", "--rate", "5", "--duration", "3", "--window", "0"], "--window"),
        (["--url", "http://127.0.0.1:1/x", "--rate", "5", "--duration", "3", "--timeout", "99"], "--timeout"),
        (
            [
                "--url",
                "http://127.0.0.1:1/x",
                "--duration",
                "3",
                "--streams",
                "a:t:interactive:1",
                "a:t:batch:1",
            ],
            "--streams",
        ),
        (["--url", "http://127.0.0.1:1/x", "--duration", "3", "--streams", "a:t:interactive"], "--streams"),
        (
            [
                "--url",
                "http://127.0.0.1:1/x",
                "--duration",
                "3",
                "--streams",
                "a:t:interactive:1",
                "--rate",
                "2",
            ],
            "--rate",
        ),
    ],
)
def test_bad_arguments_exit_2_naming_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["load", "run", *argv]) == cli.EXIT_INVALID
    err = capsys.readouterr().err
    assert f"<argument>: {flag}" in err, err


def test_bad_profile_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prof = tmp_path / "p.yaml"
    prof.write_text("url: http://127.0.0.1:1/x\nduration_s: 1\nstreams:\n  - {name: s, rate: -1}\n")
    assert cli.main(["load", "run", "--profile", str(prof)]) == cli.EXIT_INVALID
    assert f"{prof}: streams[0].rate" in capsys.readouterr().err


def test_surge_without_a_running_load_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["load", "surge", "--factor", "3"]) == cli.EXIT_INVALID
    assert "no load is running" in capsys.readouterr().err
