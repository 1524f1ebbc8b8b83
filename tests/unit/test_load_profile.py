"""The load profile: every bad field is a BadInput naming the source and the field."""

from pathlib import Path
from typing import Any

import pytest

from chaosdrill.errors import BadInput
from chaosdrill.load.profile import Priority, UserSelection, load_profile, parse_profile, parse_stream_spec

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def _profile(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "url": "http://127.0.0.1:8080/v1/generate",
        "duration_s": 10,
        "streams": [{"name": "chat", "tenant": "acme", "rate": 20, "users": 5}],
    }
    base.update(over)
    return base


def test_defaults_and_types() -> None:
    p = parse_profile(_profile())
    assert p.duration_s == 10.0
    assert p.window_s == 0.25
    assert p.max_requests is None
    (s,) = p.streams
    assert s.priority is Priority.INTERACTIVE
    assert s.user_selection is UserSelection.ROUND_ROBIN
    assert (s.rate, s.users, s.tenant) == (20.0, 5, "acme")


def test_url_without_path_gets_default_path() -> None:
    assert parse_profile(_profile(url="http://localhost:9")).url == "http://localhost:9/v1/generate"


def test_round_trip_through_dict() -> None:
    p = parse_profile(
        _profile(
            max_requests=100,
            streams=[
                {"name": "a", "rate": 1.5, "priority": "batch", "user_selection": "random", "seed": 7},
                {"name": "b", "rate": 3, "max_tokens": 9},
            ],
        )
    )
    assert parse_profile(p.to_dict()) == p


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"duration_s": None}, "duration_s"),
        ({"duration_s": 0}, "duration_s"),
        ({"duration_s": 10**9}, "duration_s"),
        ({"duration_s": "10"}, "duration_s"),
        ({"url": "ftp://x/y"}, "url"),
        ({"url": "http://:80/"}, "url"),
        ({"timeout_s": 61}, "timeout_s"),
        ({"window_s": 0}, "window_s"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"max_requests": 0}, "max_requests"),
        ({"max_requests": True}, "max_requests"),
        ({"streams": []}, "streams"),
        ({"rate": 10}, "rate"),
        ({"streams": [{"name": "a", "rate": 0}]}, "streams[0].rate"),
        ({"streams": [{"name": "a", "rate": float("nan")}]}, "streams[0].rate"),
        ({"streams": [{"name": "a", "rate": 1, "priority": "urgent"}]}, "streams[0].priority"),
        ({"streams": [{"name": "a", "rate": 1, "users": 0}]}, "streams[0].users"),
        ({"streams": [{"name": "a", "rate": 1, "tenant": "a\r\nb"}]}, "streams[0].tenant"),
        ({"streams": [{"name": "a*", "rate": 1}]}, "streams[0].name"),
        ({"streams": [{"rate": 1}]}, "streams[0].name"),
        ({"streams": [{"name": "a", "rate": 1}, {"name": "a", "rate": 2}]}, "streams"),
        ({"streams": ["a"]}, "streams[0]"),
    ],
)
def test_bad_fields_are_named(over: dict[str, Any], field: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_profile(_profile(**over), source="plan.yaml")
    assert e.value.source == "plan.yaml"
    assert e.value.field == field


def test_not_a_mapping() -> None:
    with pytest.raises(BadInput, match="mapping"):
        parse_profile(["nope"])


def test_load_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "p.yaml"
    y.write_text("url: http://127.0.0.1:1/x\nduration_s: 2\nstreams:\n  - {name: s, rate: 3}\n")
    assert load_profile(y).streams[0].rate == 3.0
    j = tmp_path / "p.json"
    j.write_text('{"url": "http://127.0.0.1:1/x", "duration_s": 2, "streams": [{"name": "s", "rate": 4}]}')
    assert load_profile(j).streams[0].rate == 4.0


def test_load_broken_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("url: [unclosed\n")
    with pytest.raises(BadInput) as e:
        load_profile(bad)
    assert e.value.source == str(bad)
    with pytest.raises(BadInput, match="cannot read"):
        load_profile(tmp_path / "missing.yaml")


def test_stream_spec() -> None:
    assert parse_stream_spec("chat:acme:interactive:50:10:32") == {
        "name": "chat",
        "tenant": "acme",
        "priority": "interactive",
        "rate": 50.0,
        "users": 10,
        "max_tokens": 32,
    }
    assert parse_stream_spec("b:t:batch:2.5")["rate"] == 2.5
    for bad in ("a:b:c", "a:b:c:fast", "a:b:c:1:x", "a:b:c:1:2:3:4"):
        with pytest.raises(BadInput) as e:
            parse_stream_spec(bad)
        assert e.value.field == "--streams"
