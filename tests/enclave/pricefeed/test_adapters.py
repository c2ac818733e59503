"""The exchange adapters against the real APIs' answers (tests/enclave/pricefeed/recorded.py): what
each reads, and every way an answer is refused, with its stable code."""

from __future__ import annotations

from decimal import Decimal

import pytest

from neo_service_layer.enclave.pricefeed.adapters import (
    ADAPTERS,
    QUOTE_REJECTION_CODES,
    Quote,
    QuoteRejected,
    adapter,
    check_price,
    read_quote,
)
from neo_service_layer.enclave.pricefeed.sources import SourceSpec
from tests.enclave.pricefeed import recorded

SYMBOLS = {
    "binance": "NEOUSDT",
    "coinbase": "BTC-USD",
    "kraken": "XBTUSD",
    "okx": "BTC-USDT",
    "coingecko": "bitcoin",
}


def source(name: str, symbol: str | None = None, **extra: str) -> SourceSpec:
    if name == "generic":
        extra.setdefault("url", "https://prices.example/neo")
        extra.setdefault("filter", "$.data.price")
        return SourceSpec(name="mine", adapter="generic", **extra)
    return SourceSpec(name=name, adapter=name, symbol=symbol or SYMBOLS[name], **extra)


def edit(body: bytes, old: str, new: str) -> bytes:
    """``body`` with ``old`` replaced once (asserting it is there, so a case cannot silently test nothing)."""
    assert body.count(old.encode()) == 1, old
    return body.replace(old.encode(), new.encode())


@pytest.mark.parametrize(
    ("name", "spec", "body", "expected"),
    [
        pytest.param(
            "binance",
            source("binance"),
            recorded.BINANCE,
            Quote(Decimal("12.21"), 1733489160, Decimal("412871.68")),
            id="binance",
        ),
        pytest.param(
            "coinbase",
            source("coinbase"),
            recorded.COINBASE,
            Quote(Decimal("97012.53"), 1733489160, Decimal("11537.80193213")),
            id="coinbase",
        ),
        pytest.param(
            "kraken",
            source("kraken"),
            recorded.KRAKEN,
            Quote(Decimal("97025"), None, Decimal("3411.27398110")),
            id="kraken-legacy-name",
        ),
        pytest.param(
            "kraken",
            source("kraken", "ETHUSD"),
            edit(recorded.KRAKEN, "XXBTZUSD", "XETHZUSD"),
            Quote(Decimal("97025"), None, Decimal("3411.27398110")),
            id="kraken-other-pair",
        ),
        pytest.param(
            "okx",
            source("okx"),
            recorded.OKX,
            Quote(Decimal("97031.2"), 1733489160, Decimal("9508.34716452")),
            id="okx",
        ),
        pytest.param(
            "coingecko",
            source("coingecko"),
            recorded.COINGECKO,
            # CoinGecko's volume is in USD: 62873211364.53987 / 97013, to 8 decimals.
            Quote(Decimal("97013"), 1733489142, Decimal("648090.57924752")),
            id="coingecko-integer-price",
        ),
        pytest.param(
            "coingecko",
            source("coingecko", "neo"),
            recorded.COINGECKO_NEO,
            Quote(Decimal("19.84"), 1733489121, Decimal("3549263.84229475")),
            id="coingecko-decimal-price",
        ),
        pytest.param(
            "coingecko",
            source("coingecko"),
            edit(recorded.COINGECKO, '"usd_24h_vol":62873211364.53987,', ""),
            Quote(Decimal("97013"), 1733489142, None),
            id="coingecko-without-volume",
        ),
        pytest.param(
            "generic",
            source("generic"),
            recorded.GENERIC,
            Quote(Decimal("12.3456"), None, None),
            id="generic-string",
        ),
        pytest.param(
            "generic",
            source("generic", filter="$.data.volume"),
            recorded.GENERIC,
            Quote(Decimal("1234567.5"), None, None),
            id="generic-number",
        ),
        pytest.param(
            "binance",
            source("binance"),
            edit(recorded.BINANCE, '"lastPrice":"12.21000000"', '"lastPrice":"1.000000000000000000000"'),
            Quote(Decimal("1"), 1733489160, Decimal("412871.68")),
            id="trailing-zeros-are-no-digits",
        ),
        pytest.param(
            "binance",
            source("binance"),
            edit(recorded.BINANCE, '"lastPrice":"12.21000000"', '"lastPrice":"1000000000000"'),
            Quote(Decimal("1000000000000"), 1733489160, Decimal("412871.68")),
            id="exactly-10^12",
        ),
    ],
)
def test_each_adapter_reads_the_real_answer(
    name: str, spec: SourceSpec, body: bytes, expected: Quote
) -> None:
    quote = ADAPTERS[name].parse(body, spec)
    assert quote == expected
    assert isinstance(quote.price, Decimal)


B, C, K, OK, G = recorded.BINANCE, recorded.COINBASE, recorded.KRAKEN, recorded.OKX, recorded.COINGECKO
BP = '"lastPrice":"12.21000000"'
CP = '"price":"97012.53"'
KP = '"c":["97025.00000","0.00051500"]'
OP = '"last":"97031.2"'
GP = '"usd":97013'


def _case(name: str, body: bytes, code: str, case_id: str, **extra: str) -> object:
    return pytest.param(name, source(name, **extra), body, code, id=f"{name}-{case_id}")


REJECTIONS = [
    # Binance
    _case("binance", recorded.BINANCE_INVALID_SYMBOL, "unknown_symbol", "invalid-symbol"),
    _case("binance", b'{"code":-1003,"msg":"Too many requests; IP banned."}', "exchange_error", "banned"),
    _case("binance", edit(B, BP, '"lastPrice":"0.00000000"'), "zero", "zero"),
    _case("binance", edit(B, BP, '"lastPrice":"-12.21"'), "negative", "negative"),
    _case("binance", edit(B, BP, '"lastPrice":"NaN"'), "absurd", "nan-string"),
    _case("binance", edit(B, BP, '"lastPrice":"1000000000000.01"'), "absurd", "over-10^12"),
    _case("binance", edit(B, BP, '"lastPrice":"0.0000000000000000001"'), "absurd", "19-fraction-digits"),
    _case("binance", edit(B, BP, '"lastPrice":"1e-19"'), "absurd", "tiny-exponent"),
    _case("binance", edit(B, BP, '"lastPrice":"1e99999999999"'), "malformed", "huge-exponent"),
    _case("binance", edit(B, BP, '"lastPrice":12.21'), "malformed", "number-not-string"),
    _case("binance", edit(B, BP, '"lastPrice":"12,21"'), "malformed", "comma"),
    _case("binance", edit(B, BP, '"lastPrice":" 12.21"'), "malformed", "space"),
    _case("binance", edit(B, BP, '"lastPrice":"1_221"'), "malformed", "underscore"),
    _case("binance", edit(B, BP, '"lastPrice":NaN'), "malformed", "bare-nan-is-not-json"),
    _case("binance", edit(B, BP, ""), "malformed", "no-price"),
    _case("binance", B[:-20], "malformed", "truncated"),
    _case(
        "binance", edit(B, '"count":28230', '"count":28230,"lastPrice":"99"'), "malformed", "duplicate-key"
    ),
    _case("binance", edit(B, '"NEOUSDT"', '"GASUSDT"'), "malformed", "another-market"),
    _case("binance", edit(B, '"closeTime":1733489160001', '"closeTime":"soon"'), "malformed", "bad-time"),
    _case("binance", edit(B, '"closeTime":1733489160001', '"closeTime":-5'), "malformed", "negative-time"),
    _case("binance", edit(B, '"volume":"412871.68000000"', '"volume":"-1"'), "malformed", "negative-volume"),
    _case("binance", b"\xff\xfe{}", "malformed", "not-utf8"),
    _case("binance", b"<html>502 Bad Gateway</html>", "malformed", "html"),
    # Coinbase Exchange
    _case("coinbase", recorded.COINBASE_NOT_FOUND, "unknown_symbol", "not-found"),
    _case("coinbase", b'{"message":"Internal server error"}', "exchange_error", "internal-error"),
    _case("coinbase", edit(C, CP, '"price":"0"'), "zero", "zero"),
    _case("coinbase", edit(C, CP, '"price":"-97012.53"'), "negative", "negative"),
    _case("coinbase", edit(C, CP, '"price":"Infinity"'), "absurd", "infinity"),
    _case("coinbase", edit(C, CP, '"price":"1e13"'), "absurd", "1e13"),
    _case("coinbase", edit(C, CP, '"price":null'), "malformed", "null-price"),
    _case("coinbase", edit(C, '"2024-12-06T12:46:00.318524Z"', '"yesterday"'), "malformed", "bad-time"),
    _case(
        "coinbase",
        edit(C, '"2024-12-06T12:46:00.318524Z"', '"2024-13-06T12:46:00Z"'),
        "malformed",
        "month-13",
    ),
    _case("coinbase", b"[]", "malformed", "array"),
    # Kraken
    _case("kraken", recorded.KRAKEN_UNKNOWN_PAIR, "unknown_symbol", "unknown-pair"),
    _case("kraken", b'{"error":["EService:Unavailable"]}', "exchange_error", "unavailable"),
    _case("kraken", edit(K, KP, '"c":["0.00000","0.00051500"]'), "zero", "zero"),
    _case("kraken", edit(K, KP, '"c":["-1.5","0.00051500"]'), "negative", "negative"),
    _case("kraken", edit(K, KP, '"c":["inf","0.00051500"]'), "absurd", "inf"),
    _case("kraken", edit(K, KP, '"c":[]'), "malformed", "empty-last"),
    _case("kraken", edit(K, '"error":[]', '"error":"none"'), "malformed", "error-not-list"),
    _case("kraken", b'{"error":[],"result":{}}', "malformed", "no-entry"),
    _case(
        "kraken",
        edit(K, '"result":{', '"result":{"XETHZUSD":{"c":["3900.1","1"]},'),
        "malformed",
        "two-entries-none-asked",
    ),
    _case("kraken", edit(K, '"v":["1190.44172510","3411.27398110"]', '"v":["1"]'), "malformed", "bad-volume"),
    _case("kraken", b'{"result":{}}', "malformed", "no-error-field"),
    # OKX
    _case("okx", recorded.OKX_NO_INSTRUMENT, "unknown_symbol", "no-instrument"),
    _case("okx", b'{"code":"0","msg":"","data":[]}', "unknown_symbol", "empty-data"),
    _case("okx", b'{"code":"50011","data":[],"msg":"Too Many Requests"}', "exchange_error", "rate-limited"),
    _case("okx", edit(OK, OP, '"last":"0"'), "zero", "zero"),
    _case("okx", edit(OK, OP, '"last":"-97031.2"'), "negative", "negative"),
    _case("okx", edit(OK, OP, '"last":"nan"'), "absurd", "nan"),
    _case("okx", edit(OK, OP, '"last":"2000000000000"'), "absurd", "2e12"),
    _case("okx", edit(OK, '"code":"0"', '"code":0'), "malformed", "numeric-code"),
    _case("okx", edit(OK, '"ts":"1733489160318"', '"ts":1733489160318'), "malformed", "numeric-ts"),
    _case("okx", edit(OK, '"instId":"BTC-USDT"', '"instId":"ETH-USDT"'), "malformed", "another-market"),
    _case("okx", edit(OK, '"data":[', '"data":{"x":['), "malformed", "broken-json"),
    # CoinGecko
    _case("coingecko", b"{}", "unknown_symbol", "unknown-id"),
    _case("coingecko", b'{"bitcoin":{}}', "unknown_symbol", "no-usd"),
    _case("coingecko", recorded.COINGECKO_RATE_LIMITED, "exchange_error", "rate-limited"),
    _case("coingecko", b'{"error":"invalid vs_currency"}', "exchange_error", "error"),
    _case("coingecko", edit(G, GP, '"usd":0'), "zero", "zero"),
    _case("coingecko", edit(G, GP, '"usd":0.0'), "zero", "zero-float"),
    _case("coingecko", edit(G, GP, '"usd":-3'), "negative", "negative"),
    _case("coingecko", edit(G, GP, '"usd":1e13'), "absurd", "1e13"),
    _case("coingecko", edit(G, GP, '"usd":Infinity'), "malformed", "bare-infinity"),
    _case("coingecko", edit(G, GP, '"usd":"97013"'), "malformed", "string-price"),
    _case("coingecko", edit(G, GP, '"usd":true'), "malformed", "boolean-price"),
    _case("coingecko", edit(G, "1733489142", '"now"'), "malformed", "bad-time"),
    _case(
        "coingecko", edit(G, '"usd_24h_vol":62873211364.53987', '"usd_24h_vol":-1'), "malformed", "bad-volume"
    ),
    # generic
    _case("generic", recorded.GENERIC, "malformed", "selects-nothing", filter="$.data.last"),
    _case("generic", recorded.GENERIC, "malformed", "selects-two", filter="$.data[*]"),
    _case("generic", recorded.GENERIC, "malformed", "boolean", filter="$.ok"),
    _case("generic", recorded.GENERIC, "malformed", "object", filter="$.data"),
    _case("generic", b"not json", "malformed", "not-json"),
    _case("generic", b'{"data":{"price":"0.000"}}', "zero", "zero"),
    _case("generic", b'{"data":{"price":-1}}', "negative", "negative"),
    _case("generic", b'{"data":{"price":"NaN"}}', "absurd", "nan-string"),
    _case("generic", b'{"data":{"price":1e300}}', "absurd", "huge-number"),
    _case("generic", b'{"data":{"price":"12.3.4"}}', "malformed", "bad-text"),
]


@pytest.mark.parametrize(("name", "spec", "body", "code"), REJECTIONS)
def test_each_adapter_refuses_what_is_no_price(name: str, spec: SourceSpec, body: bytes, code: str) -> None:
    with pytest.raises(QuoteRejected) as raised:
        ADAPTERS[name].parse(body, spec)
    assert raised.value.code == code
    assert raised.value.detail  # a sentence for the operator
    assert code in QUOTE_REJECTION_CODES


def test_every_adapter_has_at_least_six_rejection_cases() -> None:
    counts = {name: 0 for name in ADAPTERS}
    for case in REJECTIONS:
        counts[case.values[0]] += 1  # type: ignore[attr-defined]
    assert min(counts.values()) >= 6, counts


def test_details_quote_the_exchange_message_shortened_and_printable() -> None:
    body = b'{"code":-1000,"msg":"' + b"x" * 500 + b'\\u0007"}'
    with pytest.raises(QuoteRejected) as raised:
        ADAPTERS["binance"].parse(body, source("binance"))
    assert raised.value.code == "exchange_error"
    assert len(raised.value.detail) < 250
    assert "\x07" not in raised.value.detail


@pytest.mark.parametrize(
    ("value", "code"),
    [
        pytest.param(Decimal("0.000000000000000001"), None, id="18-fraction-digits"),
        pytest.param(Decimal("1e12"), None, id="10^12"),
        pytest.param(Decimal("1000000000000.000000000000000001"), "absurd", id="just-over-10^12"),
        pytest.param(Decimal("-0"), "zero", id="minus-zero"),
        pytest.param(Decimal("sNaN"), "absurd", id="snan"),
        pytest.param(Decimal("-Infinity"), "absurd", id="minus-infinity"),
    ],
)
def test_check_price_bounds(value: Decimal, code: str | None) -> None:
    if code is None:
        assert check_price(value) == value
    else:
        with pytest.raises(QuoteRejected) as raised:
            check_price(value)
        assert raised.value.code == code


@pytest.mark.parametrize(
    ("spec", "url"),
    [
        pytest.param(
            source("binance"), "https://api.binance.com/api/v3/ticker/24hr?symbol=NEOUSDT", id="binance"
        ),
        pytest.param(
            source("coinbase"), "https://api.exchange.coinbase.com/products/BTC-USD/ticker", id="coinbase"
        ),
        pytest.param(source("kraken"), "https://api.kraken.com/0/public/Ticker?pair=XBTUSD", id="kraken"),
        pytest.param(source("okx"), "https://www.okx.com/api/v5/market/ticker?instId=BTC-USDT", id="okx"),
        pytest.param(
            source("coingecko"),
            "https://api.coingecko.com/api/v3/simple/price?ids=bitcoin&vs_currencies=usd"
            "&include_last_updated_at=true&include_24hr_vol=true",
            id="coingecko",
        ),
        pytest.param(
            source("okx", base_url="https://127.0.0.1:8443/"),
            "https://127.0.0.1:8443/api/v5/market/ticker?instId=BTC-USDT",
            id="base-url-override",
        ),
        pytest.param(
            source("binance", base_url="https://proxy.example/binance"),
            "https://proxy.example/binance/api/v3/ticker/24hr?symbol=NEOUSDT",
            id="base-url-with-path",
        ),
        pytest.param(
            source("generic", url="https://prices.example/neo?unit=usd"),
            "https://prices.example/neo?unit=usd",
            id="generic",
        ),
    ],
)
def test_request_url(spec: SourceSpec, url: str) -> None:
    assert adapter(spec.adapter).request_url(spec) == url


def test_default_base_urls_are_the_public_apis() -> None:
    assert {name: a.default_base_url for name, a in ADAPTERS.items()} == {
        "binance": "https://api.binance.com",
        "coinbase": "https://api.exchange.coinbase.com",
        "kraken": "https://api.kraken.com",
        "okx": "https://www.okx.com",
        "coingecko": "https://api.coingecko.com",
        "generic": "",
    }


def test_an_unknown_adapter_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown price adapter 'bitstamp'"):
        adapter("bitstamp")


def test_a_rejection_code_must_be_a_known_one() -> None:
    with pytest.raises(ValueError, match="unknown quote rejection code"):
        QuoteRejected("timeout", "no")


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        pytest.param(200, recorded.BINANCE, None, id="200-ticker"),
        pytest.param(400, recorded.BINANCE_INVALID_SYMBOL, "unknown_symbol", id="400-invalid-symbol"),
        pytest.param(
            429, b'{"code":-1003,"msg":"Too many requests."}', "exchange_error", id="429-error-body"
        ),
        pytest.param(502, b"<html>Bad Gateway</html>", "exchange_error", id="502-html"),
        pytest.param(500, recorded.BINANCE, "exchange_error", id="500-with-a-ticker"),
        pytest.param(200, b"<html>Bad Gateway</html>", "malformed", id="200-html"),
    ],
)
def test_read_quote_never_takes_a_non_200_answer(status: int, body: bytes, code: str | None) -> None:
    spec = source("binance")
    if code is None:
        assert read_quote(spec, status, body).price == Decimal("12.21")
        return
    with pytest.raises(QuoteRejected) as raised:
        read_quote(spec, status, body)
    assert raised.value.code == code
