"""Request templates (enclave/oracle/template.py): placeholders, where secrets may go, headers, echoes."""

from __future__ import annotations

import pytest

from neo_service_layer.enclave.oracle import template
from neo_service_layer.enclave.oracle.template import TemplateError

VALUES = {"KEY": b"s3cr3t-value", "SPACE": b"a b/c?d", "CRLF": b"x\r\nInjected: 1", "BIN": b"\xff\xfe"}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        pytest.param("https://a.example/p?k={{secrets.KEY}}", {"KEY"}, id="query"),
        pytest.param(
            "{{ secrets.KEY }} and {{secrets.other_1.x-y}}", {"KEY", "other_1.x-y"}, id="spaces-and-chars"
        ),
        pytest.param("no placeholder", set(), id="none"),
    ],
)
def test_placeholders(text: str, names: set[str]) -> None:
    assert template.placeholders(text) == names


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{{secrets.}}", id="empty-name"),
        pytest.param("{{env.HOME}}", id="not-secrets"),
        pytest.param("{{secrets.KEY}", id="unclosed"),
        pytest.param("x }} y", id="stray-close"),
        pytest.param("{{secrets.-bad}}", id="name-starts-with-dash"),
    ],
)
def test_malformed_placeholders_are_refused(text: str) -> None:
    with pytest.raises(TemplateError, match="outside a"):
        template.placeholders(text)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://{{secrets.KEY}}.example/", id="in-host"),
        pytest.param("https://{{secrets.KEY}}@a.example/", id="in-userinfo"),
        pytest.param("https://a.example:{{secrets.KEY}}/", id="in-port"),
        pytest.param("{{secrets.KEY}}://a.example/", id="in-scheme"),
    ],
)
def test_a_secret_never_chooses_the_destination(url: str) -> None:
    with pytest.raises(TemplateError, match="cannot be part of the URL"):
        template.template_host(url)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        pytest.param("https://API.Example.com/x", "api.example.com", id="lowercased"),
        pytest.param("https://a.example:8443/p/{{secrets.KEY}}", "a.example", id="port-and-path-secret"),
        pytest.param("https://[::1]:8443/", "::1", id="ipv6-literal"),
    ],
)
def test_template_host(url: str, host: str) -> None:
    assert template.template_host(url) == host


def test_a_url_without_host_is_refused() -> None:
    with pytest.raises(TemplateError, match="no host"):
        template.template_host("https:///path")


def test_substitution_percent_encodes_in_urls_only() -> None:
    assert (
        template.substitute_url("https://a.example/?q={{secrets.SPACE}}", VALUES)
        == "https://a.example/?q=a%20b%2Fc%3Fd"
    )
    assert template.substitute_header("Bearer {{secrets.SPACE}}", VALUES) == "Bearer a b/c?d"
    assert template.substitute_body('{"k": "{{secrets.KEY}}"}', VALUES) == '{"k": "s3cr3t-value"}'


@pytest.mark.parametrize(
    ("call", "match"),
    [
        pytest.param(
            lambda: template.substitute_header("{{secrets.CRLF}}", VALUES),
            "CR, LF or NUL",
            id="header-injection",
        ),
        pytest.param(
            lambda: template.substitute_url("https://a/{{secrets.NOPE}}", VALUES), "not granted", id="unknown"
        ),
        pytest.param(lambda: template.substitute_body("{{secrets.BIN}}", VALUES), "not UTF-8", id="binary"),
    ],
)
def test_substitution_refusals_never_quote_the_value(call: object, match: str) -> None:
    with pytest.raises(TemplateError, match=match) as raised:
        call()  # type: ignore[operator]
    assert all(value.decode(errors="replace") not in str(raised.value) for value in VALUES.values())


@pytest.mark.parametrize(
    "name",
    [
        "Accept",
        "authorization",
        "Content-Type",
        "User-Agent",
        "X-API-Key",
        "x-cmc_pro_api_key".replace("_", "-"),
    ],
)
def test_allowed_headers(name: str) -> None:
    template.check_header(name)


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "Cookie",
        "Connection",
        "Transfer-Encoding",
        "Content-Length",
        "Proxy-Authorization",
        "Forwarded",
        "X-Forwarded-For",
        "X-Real-IP",
        "X-HTTP-Method-Override",
        "Bad Header",
        "X-Key\r\nInjected",
        "",
    ],
)
def test_refused_headers(name: str) -> None:
    with pytest.raises(TemplateError):
        template.check_header(name)


def test_headers_are_bounded_and_unique() -> None:
    with pytest.raises(TemplateError, match="at most 16"):
        template.check_headers({f"X-H{i}": "v" for i in range(17)})
    with pytest.raises(TemplateError, match="given twice"):
        template.check_headers({"Accept": "a", "accept": "b"})
    with pytest.raises(TemplateError, match="CR/LF/NUL"):
        template.check_headers({"Accept": "a\nb"})


def test_secret_names_refuses_a_secret_header_name() -> None:
    with pytest.raises(TemplateError, match="header name"):
        template.secret_names("https://a.example/", {"{{secrets.KEY}}": "v"}, None)
    names = template.secret_names(
        "https://a.example/{{secrets.A}}", {"X-K": "{{secrets.B}}"}, "{{secrets.C}}"
    )
    assert names == {"A", "B", "C"}


@pytest.mark.parametrize(
    ("data", "echoed"),
    [
        pytest.param(b'["s3cr3t-value"]', True, id="as-is"),
        pytest.param(b'["a%20b%2Fc%3Fd"]', True, id="percent-encoded"),
        pytest.param(b'["x\\r\\nInjected: 1"]', True, id="json-escaped"),
        pytest.param(b'["s3cr3t"]', False, id="a-prefix-is-not-the-value"),
        pytest.param(b'["nothing"]', False, id="absent"),
    ],
)
def test_echoes(data: bytes, echoed: bool) -> None:
    assert template.echoes(data, VALUES.values()) is echoed


def test_short_values_are_not_echo_checked() -> None:
    # "1" would match any number: values under MIN_ECHO_CHECK_BYTES are not looked for.
    assert template.echoes(b"[1]", [b"1"]) is False
