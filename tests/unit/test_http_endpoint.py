"""Reading Prometheus/Alertmanager endpoints from an experiment: auth headers, credentials from
the environment or the experiment's secrets, and no secret in any message."""

import base64
from typing import Any

import pytest

from chaosdrill.drivers.http_endpoint import (
    BasicAuth,
    BearerToken,
    Endpoint,
    GivenSecrets,
    auth_headers,
    endpoint_from,
    parse_endpoint,
    section_secrets,
)
from chaosdrill.errors import BadInput

pytestmark = pytest.mark.unit

TOKEN = "tok-0123456789abcdef"
PASSWORD = "pa55word-very-secret"


def parse(
    raw: dict[str, Any], env: dict[str, str] | None = None, secrets: dict[str, Any] | None = None
) -> Endpoint:
    return parse_endpoint(
        raw,
        source="<experiment>",
        where="configuration.chaosdrill_prometheus",
        secrets=section_secrets({"prometheus": secrets} if secrets is not None else None, "prometheus"),
        env=env or {},
    )


def test_bearer_header() -> None:
    assert auth_headers(BearerToken(TOKEN)) == {"Authorization": f"Bearer {TOKEN}"}


def test_basic_header_is_base64_of_user_colon_password() -> None:
    header = auth_headers(BasicAuth("drill", PASSWORD))["Authorization"]
    scheme, encoded = header.split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"drill:{PASSWORD}"


def test_no_auth_no_header() -> None:
    assert auth_headers(None) == {}


def test_url_only_defaults_to_verified_tls_and_no_auth() -> None:
    endpoint = parse({"url": "https://prom.example:9090/prefix/"})
    assert endpoint == Endpoint("https://prom.example:9090/prefix", None, True)


def test_bearer_token_from_the_named_environment_variable() -> None:
    endpoint = parse(
        {"url": "http://127.0.0.1:9090", "auth": {"bearer_token_env": "PROM_TOKEN"}}, {"PROM_TOKEN": TOKEN}
    )
    assert endpoint.auth == BearerToken(TOKEN)


def test_basic_auth_from_environment_variables() -> None:
    endpoint = parse(
        {"url": "http://127.0.0.1:9090", "auth": {"username_env": "U", "password_env": "P"}},
        {"U": "drill", "P": PASSWORD},
    )
    assert endpoint.auth == BasicAuth("drill", PASSWORD)


def test_experiment_secrets_win_over_the_environment() -> None:
    endpoint = parse(
        {"url": "http://127.0.0.1:9090", "auth": {"bearer_token_env": "PROM_TOKEN"}},
        {"PROM_TOKEN": "from-env-not-used"},
        secrets={"token": TOKEN},
    )
    assert endpoint.auth == BearerToken(TOKEN)


def test_secrets_alone_give_auth() -> None:
    endpoint = parse({"url": "http://127.0.0.1:9090"}, secrets={"username": "drill", "password": PASSWORD})
    assert endpoint.auth == BasicAuth("drill", PASSWORD)


def test_endpoint_from_reads_configuration_and_nested_secrets() -> None:
    configuration = {"chaosdrill_alertmanager": {"url": "http://127.0.0.1:9093", "verify_tls": False}}
    endpoint = endpoint_from(configuration, {"alertmanager": {"token": TOKEN}}, "alertmanager")
    assert endpoint == Endpoint("http://127.0.0.1:9093", BearerToken(TOKEN), False)


def test_flat_secrets_as_chaos_toolkit_passes_them_reach_their_own_section_only() -> None:
    flat = {"prometheus_username": "drill", "prometheus_password": PASSWORD, "alertmanager_token": TOKEN}
    prom = endpoint_from({"chaosdrill_prometheus": {"url": "http://127.0.0.1:9090"}}, flat, "prometheus")
    am = endpoint_from({"chaosdrill_alertmanager": {"url": "http://127.0.0.1:9093"}}, flat, "alertmanager")
    assert prom.auth == BasicAuth("drill", PASSWORD)
    assert am.auth == BearerToken(TOKEN)
    assert section_secrets({"token": TOKEN}, "prometheus") == GivenSecrets(
        {}, section_secrets(None, "prometheus").names, "secrets"
    )


def test_missing_section_names_the_configuration_field() -> None:
    with pytest.raises(BadInput, match=r"configuration\.chaosdrill_prometheus: missing"):
        endpoint_from({}, None, "prometheus")


def test_unset_environment_variable_names_the_field_and_the_variable() -> None:
    with pytest.raises(BadInput) as e:
        parse({"url": "http://127.0.0.1:9090", "auth": {"bearer_token_env": "PROM_TOKEN"}})
    assert str(e.value) == (
        "<experiment>: configuration.chaosdrill_prometheus.auth.bearer_token_env: "
        "environment variable PROM_TOKEN is not set"
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"url": "http://127.0.0.1:9090", "token": "x"}, "configuration.chaosdrill_prometheus.token"),
        ({"url": "ftp://127.0.0.1"}, "configuration.chaosdrill_prometheus.url"),
        ({"url": ""}, "configuration.chaosdrill_prometheus.url"),
        ({"url": "http://127.0.0.1", "verify_tls": "no"}, "configuration.chaosdrill_prometheus.verify_tls"),
        (
            {"url": "http://127.0.0.1", "auth": {"password_env": "P"}},
            "configuration.chaosdrill_prometheus.auth",
        ),
        (
            {
                "url": "http://127.0.0.1",
                "auth": {"bearer_token_env": "T", "username_env": "U", "password_env": "P"},
            },
            "configuration.chaosdrill_prometheus.auth",
        ),
        (
            {"url": "http://127.0.0.1", "auth": {"token_env": "T"}},
            "configuration.chaosdrill_prometheus.auth.token_env",
        ),
    ],
)
def test_bad_settings_name_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(BadInput) as e:
        parse(raw, {"T": TOKEN, "U": "u", "P": PASSWORD})
    assert e.value.field == field


def test_a_url_with_credentials_is_refused_without_repeating_them() -> None:
    with pytest.raises(BadInput) as e:
        parse({"url": f"http://drill:{PASSWORD}@127.0.0.1:9090"})
    assert e.value.field == "configuration.chaosdrill_prometheus.url"
    assert PASSWORD not in str(e.value)


def test_a_url_with_a_query_string_is_refused_without_repeating_it() -> None:
    with pytest.raises(BadInput) as e:
        parse({"url": f"http://127.0.0.1:9090/?token={TOKEN}"})
    assert "query string" in str(e.value) and TOKEN not in str(e.value)


def test_a_bad_secret_is_named_but_not_shown() -> None:
    with pytest.raises(BadInput) as e:
        parse(
            {"url": "http://127.0.0.1:9090"},
            secrets={"token": TOKEN, "username": "drill", "password": PASSWORD},
        )
    assert TOKEN not in str(e.value) and PASSWORD not in str(e.value)
    with pytest.raises(BadInput, match=r"secrets.prometheus.api_key: unknown key"):
        endpoint_from(
            {"chaosdrill_prometheus": {"url": "http://x"}}, {"prometheus": {"api_key": TOKEN}}, "prometheus"
        )


def test_secrets_never_show_in_repr_and_are_redacted_from_text() -> None:
    endpoint = Endpoint("http://127.0.0.1:9090", BasicAuth("drill", PASSWORD))
    assert PASSWORD not in repr(endpoint)
    header = auth_headers(endpoint.auth)["Authorization"]
    text = endpoint.redact(f"failed with {PASSWORD} and header {header}")
    assert PASSWORD not in text and header.split()[1] not in text
    assert TOKEN not in repr(Endpoint("http://x", BearerToken(TOKEN)))
