"""The fetcher's policy: defaults from neo-go's oracle, built from ``settings.oracle``, and checked."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from neo_service_layer.config import OracleSettings, Settings
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.fetch import SafeFetcher, default_ssl_context, media_type, status_code
from neo_service_layer.enclave.oracle.policy import FetchPolicy


def test_defaults_are_neo_gos() -> None:
    # neo-go oracle.go: 5 s timeout, maxRedirections 2; AllowPrivateHost off; MaxOracleResultSize 0xFFFF.
    policy = FetchPolicy()
    assert (policy.allow_http, policy.allow_private_hosts, policy.max_redirects) == (False, False, 2)
    assert policy.total_timeout_seconds == policy.connect_timeout_seconds == 5.0
    assert policy.max_response_bytes == 65535
    assert policy.allowed_content_types == {"application/json"}


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSL_ORACLE_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("NSL_ORACLE_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("NSL_ORACLE_ALLOWED_CONTENT_TYPES", '["application/json", "Text/Plain"]')
    monkeypatch.setenv("NSL_ORACLE_DENY_DOMAINS", '["*.internal"]')
    monkeypatch.setenv("NSL_ORACLE_PER_HOST_BURST", "3")
    policy = FetchPolicy.from_settings(Settings().oracle)
    assert policy.allow_private_hosts
    assert policy.total_timeout_seconds == policy.read_timeout_seconds == 2.5
    assert policy.allowed_content_types == {"application/json", "text/plain"}
    assert policy.deny_domains.matches("db.internal")
    assert not policy.allow_domains
    assert policy.per_host_burst == 3


def test_from_settings_refuses_a_bad_pattern() -> None:
    with pytest.raises(ValueError, match="not a valid domain"):
        FetchPolicy.from_settings(OracleSettings(deny_domains=["bad domain"]))


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"total_timeout_seconds": 0}, id="timeout"),
        pytest.param({"max_redirects": -1}, id="redirects"),
        pytest.param({"max_response_bytes": 0}, id="bytes"),
        pytest.param({"max_concurrent_per_host": 0}, id="concurrency"),
        pytest.param({"per_host_rate_per_second": 0}, id="rate"),
    ],
)
def test_bad_policies_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        FetchPolicy(**fields)


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _old_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    return context


@pytest.mark.parametrize(
    "context", [pytest.param(_unverified, id="unverified"), pytest.param(_old_tls, id="old-tls")]
)
def test_an_unsafe_ssl_context_is_refused(context: Any) -> None:
    with pytest.raises(ValueError, match="SSL context must"):
        SafeFetcher(ssl_context=context())


def test_the_default_context_verifies_with_tls_1_2_at_least() -> None:
    context = default_ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("application/json", "application/json", id="plain"),
        pytest.param("Application/JSON; charset=utf-8", "application/json", id="params-case"),
        pytest.param("application/json, text/html", None, id="two-types"),
        pytest.param("json", None, id="no-subtype"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_media_type(header: str | None, expected: str | None) -> None:
    assert media_type(header) == expected


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (200, OracleCode.Success),
        (403, OracleCode.Forbidden),
        (404, OracleCode.NotFound),
        (408, OracleCode.Timeout),
        (204, OracleCode.Error),
        (502, OracleCode.Error),
    ],
)
def test_status_codes_are_neo_gos(status: int, code: OracleCode) -> None:
    assert status_code(status) is code
