"""A price feed's source: which adapter reads which market where."""

from __future__ import annotations

from neo_service_layer.enclave.schemas import EnclaveModel


class SourceSpec(EnclaveModel):
    name: str  # unique label within the feed, e.g. "binance"
    adapter: str  # a key of ADAPTERS
    symbol: str | None = (
        None  # the exchange's market id: "NEOUSDT", "BTC-USD", "XBTUSD", "BTC-USDT", "bitcoin"
    )
    base_url: str | None = None  # override of the adapter's default (devnet simulator, tests)
    url: str | None = None  # generic only
    filter: str | None = None  # generic only
