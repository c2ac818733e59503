"""A request as the caller writes it: secrets by reference (``{{secrets.NAME}}``), safe headers only.

The caller never sends a secret's value: a URL's path or query, a header value or the body names it as
``{{secrets.NAME}}``, and the enclave substitutes the value just before the request leaves (TLS ends
inside the enclave, so the value is never in the clear on the host). The rules that keep it there:

* the **host** of a URL is fixed by the template: a placeholder in the scheme, user info, host or port
  is refused, so a secret can never choose (or be smuggled into) the destination;
* a secret may be sent only to the host its grant names (``grantee`` of an ``oracle`` grant is the
  destination host name): ``https://attacker.example/?k={{secrets.API_KEY}}`` fails without a grant
  of ``API_KEY`` to ``attacker.example``;
* values are percent-encoded in a URL (RFC 3986 unreserved characters stay as they are) and refused in
  a header if they hold a CR, LF or NUL (header injection);
* a result that echoes a value back (an API that reflects headers, say) is refused: :func:`echoes`.

Headers come from an allow-list (:func:`check_header`): the content negotiation and authentication
headers APIs need, and ``X-`` headers other than the forwarding ones, never hop-by-hop headers,
``Host``, ``Cookie`` or anything that would change how the request is routed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import quote, urlsplit

PLACEHOLDER: Final = re.compile(r"\{\{\s*secrets\.([A-Za-z0-9][A-Za-z0-9_.-]{0,127})\s*\}\}")
# Anything that looks like a placeholder but is not one: refused rather than sent as is.
_BRACES: Final = re.compile(r"\{\{|\}\}")

ALLOWED_HEADERS: Final = frozenset(
    {
        "accept",
        "accept-language",
        "authorization",
        "cache-control",
        "content-type",
        "if-modified-since",
        "if-none-match",
        "user-agent",
    }
)
# X- headers are the usual home of API keys (X-API-Key, X-CMC_PRO_API_KEY); these few route instead.
REFUSED_X_HEADERS: Final = frozenset({"x-real-ip", "x-http-method-override"})
REFUSED_X_PREFIXES: Final = ("x-forwarded-",)
HEADER_NAME: Final = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MAX_HEADERS: Final = 16
MAX_HEADER_VALUE_CHARS: Final = 4096
# Shorter values would match by accident ("1", "ok"); API keys and tokens are longer.
MIN_ECHO_CHECK_BYTES: Final = 6


class TemplateError(ValueError):
    """The request template breaks a rule; the message names the rule, never a secret's value."""


def placeholders(text: str) -> set[str]:
    """The secret names ``text`` refers to; TemplateError for a stray ``{{`` or ``}}``."""
    names = set(PLACEHOLDER.findall(text))
    if _BRACES.search(PLACEHOLDER.sub("", text)):
        raise TemplateError("'{{' or '}}' outside a {{secrets.NAME}} placeholder")
    return names


def template_host(url: str) -> str:
    """The destination host of a URL template (lowercase), with no placeholder before its path."""
    parts = urlsplit(url)
    # The text before the first "/" too: a placeholder there may be a scheme urlsplit did not take.
    if placeholders(url.split("/", 1)[0]) or placeholders(f"{parts.scheme}://{parts.netloc}"):
        raise TemplateError("a secret cannot be part of the URL's scheme, user info, host or port")
    host = parts.hostname
    if not host:
        raise TemplateError("the URL has no host")
    return host


def secret_names(url: str, headers: Mapping[str, str], body: str | None) -> set[str]:
    """Every secret a source refers to, checking where placeholders may appear."""
    template_host(url)
    names = placeholders(url)
    for name, value in headers.items():
        if placeholders(name):
            raise TemplateError("a secret cannot be a header name")
        names |= placeholders(value)
    if body is not None:
        names |= placeholders(body)
    return names


def check_header(name: str) -> None:
    """TemplateError unless ``name`` may be sent (module docstring)."""
    lowered = name.lower()
    if not HEADER_NAME.match(name):
        raise TemplateError(f"header name {name[:64]!r} is not a token of letters, digits and '-'")
    if lowered in ALLOWED_HEADERS:
        return
    if (
        lowered.startswith("x-")
        and lowered not in REFUSED_X_HEADERS
        and not lowered.startswith(REFUSED_X_PREFIXES)
    ):
        return
    raise TemplateError(
        f"header {name!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_HEADERS))}, X-*)"
    )


def check_headers(headers: Mapping[str, str]) -> None:
    """Every header's name is allowed, its value bounded, and no name is given twice."""
    if len(headers) > MAX_HEADERS:
        raise TemplateError(f"at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    for name, value in headers.items():
        check_header(name)
        if name.lower() in seen:
            raise TemplateError(f"header {name!r} is given twice")
        seen.add(name.lower())
        if len(value) > MAX_HEADER_VALUE_CHARS or _unsafe_header_text(value):
            raise TemplateError(
                f"header {name!r} has a value over {MAX_HEADER_VALUE_CHARS} characters or a CR/LF/NUL"
            )


def _unsafe_header_text(value: str) -> bool:
    return any(char in value for char in "\r\n\0")


def _text(name: str, values: Mapping[str, bytes]) -> str:
    try:
        return values[name].decode()
    except KeyError:
        raise TemplateError(f"secret {name} is not granted to this destination") from None
    except UnicodeDecodeError:
        raise TemplateError(f"secret {name} is not UTF-8 text and cannot be substituted") from None


def substitute_url(url: str, values: Mapping[str, bytes]) -> str:
    """``url`` with each placeholder replaced by its value, percent-encoded."""
    return PLACEHOLDER.sub(lambda match: quote(_text(match[1], values), safe="-._~"), url)


def substitute_header(value: str, values: Mapping[str, bytes]) -> str:
    """A header value with its placeholders replaced; TemplateError if a value would inject a line."""
    substituted = PLACEHOLDER.sub(lambda match: _text(match[1], values), value)
    if _unsafe_header_text(substituted):
        raise TemplateError("a substituted secret holds a CR, LF or NUL: refused in a header")
    return substituted


def substitute_body(body: str, values: Mapping[str, bytes]) -> str:
    """The body with its placeholders replaced by the values as they are."""
    return PLACEHOLDER.sub(lambda match: _text(match[1], values), body)


def echoes(data: bytes, values: Iterable[bytes]) -> bool:
    """Whether ``data`` holds one of ``values`` as is, JSON-escaped or percent-encoded."""
    for value in values:
        if len(value) < MIN_ECHO_CHECK_BYTES:
            continue
        forms = {value}
        try:
            text = value.decode()
        except UnicodeDecodeError:
            pass
        else:
            forms.add(json.dumps(text)[1:-1].encode())
            forms.add(quote(text, safe="").encode())
        if any(form in data for form in forms):
            return True
    return False
