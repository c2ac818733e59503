"""``SourceSpec``: one price source of a feed — which adapter, which market, where — checked once.

Validated when a feed is configured and again when the enclave receives it, so that nothing odd reaches
a URL: the adapter must exist, an exchange adapter needs a market symbol of that exchange's form (and
takes no ``url``/``filter``), the generic adapter needs ``url`` and ``filter`` (and takes no
``symbol``/``base_url``). URLs are parsed by the oracle's own parser (``oracle/urls.py``), here only
for their form: whether a host may be reached is the fetcher's policy, decided at fetch time.
"""

from __future__ import annotations

from typing import Annotated, Final, Self

from pydantic import Field, model_validator

from neo_service_layer.enclave.oracle.codes import OracleFailure
from neo_service_layer.enclave.oracle.jsonpath import JsonPathError, parse_path
from neo_service_layer.enclave.oracle.urls import parse_url
from neo_service_layer.enclave.pricefeed.adapters import ADAPTERS, ExchangeAdapter
from neo_service_layer.enclave.schemas import EnclaveModel

__all__ = ["MAX_FILTER_CHARS", "MAX_URL_CHARS", "SOURCE_NAME_PATTERN", "SourceSpec"]

MAX_URL_CHARS: Final = 2048  # as the oracle's (opdefs/oracle.py)
MAX_FILTER_CHARS: Final = 1024
SOURCE_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_.-]{0,39}$"


def _check_url(url: str, what: str) -> None:
    try:
        parse_url(url, allow_http=True, allow_private_hosts=True)
    except OracleFailure as e:
        raise ValueError(f"{what}: {e.detail}") from None
    if "#" in url:
        raise ValueError(f"{what} has a fragment")


class SourceSpec(EnclaveModel):
    """One source of a feed. ``name`` is its label, unique within the feed."""

    name: Annotated[str, Field(pattern=SOURCE_NAME_PATTERN)]
    adapter: str
    symbol: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    base_url: Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS)] | None = None
    url: Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS)] | None = None
    filter: Annotated[str, Field(max_length=MAX_FILTER_CHARS)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        found = ADAPTERS.get(self.adapter)
        if found is None:
            raise ValueError(f"unknown adapter {self.adapter!r} (known: {', '.join(ADAPTERS)})")
        if not isinstance(found, ExchangeAdapter):
            if self.url is None or self.filter is None:
                raise ValueError("the generic adapter needs url and filter")
            if self.symbol is not None or self.base_url is not None:
                raise ValueError("the generic adapter takes no symbol or base_url (the url is whole)")
            _check_url(self.url, "url")
            try:
                parse_path(self.filter)
            except JsonPathError as e:
                raise ValueError(f"filter: {e}") from None
            return self
        if self.url is not None or self.filter is not None:
            raise ValueError(
                f"the {self.adapter} adapter takes no url or filter (they are the generic one's)"
            )
        if self.symbol is None:
            raise ValueError(f"the {self.adapter} adapter needs a symbol")
        found.check_symbol(self.symbol)
        if self.base_url is not None:
            _check_url(self.base_url, "base_url")
            if "?" in self.base_url:
                raise ValueError("base_url has a query (the adapter writes its own)")
        return self
