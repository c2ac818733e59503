"""Answers of the real public APIs, as they send them (compact JSON, every field, most ignored), for a
moment on 2024-12-06 around 12:46 UTC. The adapters' tests and the exchange simulator's round trips
both check against these shapes."""

from __future__ import annotations

from typing import Final

# GET https://api.binance.com/api/v3/ticker/24hr?symbol=NEOUSDT
BINANCE: Final = (
    b'{"symbol":"NEOUSDT","priceChange":"-0.11000000","priceChangePercent":"-0.893",'
    b'"weightedAvgPrice":"12.27164410","prevClosePrice":"12.32000000","lastPrice":"12.21000000",'
    b'"lastQty":"4.13000000","bidPrice":"12.20000000","bidQty":"311.42000000","askPrice":"12.21000000",'
    b'"askQty":"120.35000000","openPrice":"12.32000000","highPrice":"12.54000000","lowPrice":"12.01000000",'
    b'"volume":"412871.68000000","quoteVolume":"5066670.40910000","openTime":1733402760001,'
    b'"closeTime":1733489160001,"firstId":99283811,"lastId":99312040,"count":28230}'
)
BINANCE_INVALID_SYMBOL: Final = b'{"code":-1121,"msg":"Invalid symbol."}'  # HTTP 400

# GET https://api.exchange.coinbase.com/products/BTC-USD/ticker
COINBASE: Final = (
    b'{"ask":"97012.53","bid":"97012.52","volume":"11537.80193213","trade_id":753512384,'
    b'"price":"97012.53","size":"0.00004617","time":"2024-12-06T12:46:00.318524Z",'
    b'"rfq_volume":"245.125663","conversions_volume":"0"}'
)
COINBASE_NOT_FOUND: Final = b'{"message":"NotFound"}'  # HTTP 404

# GET https://api.kraken.com/0/public/Ticker?pair=XBTUSD (answered under Kraken's name XXBTZUSD)
KRAKEN: Final = (
    b'{"error":[],"result":{"XXBTZUSD":{"a":["97025.00000","1","1.000"],"b":["97024.90000","2","2.000"],'
    b'"c":["97025.00000","0.00051500"],"v":["1190.44172510","3411.27398110"],'
    b'"p":["97411.21375","97894.38920"],"t":[28417,80153],"l":["96500.00000","96500.00000"],'
    b'"h":["98236.00000","99050.00000"],"o":"97695.20000"}}}'
)
KRAKEN_UNKNOWN_PAIR: Final = b'{"error":["EQuery:Unknown asset pair"]}'

# GET https://www.okx.com/api/v5/market/ticker?instId=BTC-USDT
OKX: Final = (
    b'{"code":"0","msg":"","data":[{"instType":"SPOT","instId":"BTC-USDT","last":"97031.2",'
    b'"lastSz":"0.00117389","askPx":"97031.3","askSz":"0.36573869","bidPx":"97031.2","bidSz":"0.20427549",'
    b'"open24h":"98104.1","high24h":"99112.1","low24h":"96530","volCcy24h":"929105838.790812786",'
    b'"vol24h":"9508.34716452","ts":"1733489160318","sodUtc0":"97758.8","sodUtc8":"98536"}]}'
)
OKX_NO_INSTRUMENT: Final = b'{"code":"51001","data":[],"msg":"Instrument ID does not exist"}'

# GET https://api.coingecko.com/api/v3/simple/price?ids=bitcoin&vs_currencies=usd
#     &include_last_updated_at=true&include_24hr_vol=true
COINGECKO: Final = b'{"bitcoin":{"usd":97013,"usd_24h_vol":62873211364.53987,"last_updated_at":1733489142}}'
COINGECKO_NEO: Final = b'{"neo":{"usd":19.84,"usd_24h_vol":70417394.6311279,"last_updated_at":1733489121}}'
COINGECKO_RATE_LIMITED: Final = (
    b'{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit. Please visit '
    b'https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits."}}'
)

# A price API of one's own, read with a filter.
GENERIC: Final = b'{"data": {"symbol": "NEOUSDT", "price": "12.3456", "volume": 1234567.5}, "ok": true}'
