"""Redaction: which values are secret, how strings and journals are scrubbed, and log records."""

import logging

import pytest

from chaosdrill import redact
from chaosdrill.redact import REDACTED, Redactor, redactor_for, scrub_journal

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]


def test_secret_values_come_from_secrets_inline_values_and_marked_configuration_keys() -> None:
    experiment = {
        "configuration": {
            "chaosdrill_secret_keys": ["db_password"],
            "db_password": "pw-inline",
            "region": "eu",
        },
        "secrets": {"api": {"token": "tok-inline", "env_token": {"type": "env", "key": "API_TOKEN"}}},
    }
    configuration = {
        "chaosdrill_secret_keys": ["db_password", "missing"],
        "db_password": "pw-resolved",
        "region": "eu",
    }
    secrets = {"api": {"token": "tok-inline", "env_token": "tok-from-env"}}
    r = redactor_for(configuration, secrets, experiment)
    assert r.values == {"pw-inline", "pw-resolved", "tok-inline", "tok-from-env"}
    assert "API_TOKEN" not in r.values and "env" not in r.values and "eu" not in r.values


def test_text_replaces_every_occurrence_longest_first() -> None:
    r = Redactor(frozenset({"abcd", "abcdefgh"}))
    assert r.text("x abcdefgh y abcd z") == f"x {REDACTED} y {REDACTED} z"
    assert r.text("nothing here") == "nothing here"


def test_short_values_are_replaced_only_as_whole_strings() -> None:
    r = Redactor(frozenset({"42x"}))
    assert r.text("42x") == REDACTED
    assert r.text("a 42x b") == "a 42x b"


def test_scrub_rebuilds_nested_structures_and_leaves_the_original_alone() -> None:
    original = {"a": ["token=s3cret-val", {"k": "s3cret-val"}], "n": 7, "flag": True, "s3cret-val": 1}
    out = Redactor(frozenset({"s3cret-val"})).scrub(original)
    assert out == {"a": [f"token={REDACTED}", {"k": REDACTED}], "n": 7, "flag": True, REDACTED: 1}
    assert original["a"][0] == "token=s3cret-val"


def test_numeric_secrets_are_redacted_where_they_are_whole_values() -> None:
    r = redactor_for({}, {"db": {"pin": 123456}})
    assert r.scrub({"out": 123456, "other": 7}) == {"out": REDACTED, "other": 7}


def test_scrub_journal_blanks_inline_secrets_and_keeps_references() -> None:
    journal = {
        "experiment": {
            "secrets": {"api": {"token": "tok-inline", "short": "ab", "ref": {"type": "env", "key": "X"}}}
        },
        "run": [{"output": "got tok-inline", "exception": ["Error: tok-from-env"]}],
    }
    scrub_journal(journal, Redactor(frozenset({"tok-inline", "tok-from-env", "ab"})))
    assert journal["experiment"]["secrets"] == {
        "api": {"token": REDACTED, "short": REDACTED, "ref": {"type": "env", "key": "X"}}
    }
    assert journal["run"] == [{"output": f"got {REDACTED}", "exception": [f"Error: {REDACTED}"]}]


def test_an_empty_redactor_changes_nothing() -> None:
    journal = {"experiment": {"secrets": {}}, "x": "y"}
    scrub_journal(journal, Redactor())
    assert journal == {"experiment": {"secrets": {}}, "x": "y"}


def test_armed_redaction_scrubs_log_records_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    previous = redact.active()
    try:
        redact.arm({}, {"api": {"token": "very-secret-token"}})
        log = logging.getLogger("chaosdrill.test_redact")
        with caplog.at_level(logging.INFO, logger="chaosdrill.test_redact"):
            log.info("calling with %s", "very-secret-token")
            try:
                raise ValueError("bad very-secret-token")
            except ValueError:
                log.exception("failed")
        text = caplog.text
        assert "very-secret-token" not in text
        assert f"calling with {REDACTED}" in text and f"ValueError: bad {REDACTED}" in text
    finally:
        redact._active = previous
