"""Readiness of the configured chains for ``/readyz``: does each node answer, and at what height.

One JSON-RPC call per configured chain (``eth_blockNumber``, ``getblockcount``), concurrently, with a
short timeout so a dead node makes the probe fail fast instead of hanging it. The reply never carries
the RPC URL or the transport's message: provider URLs often embed an API key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from neo_service_layer.config import Settings

PROBE_TIMEOUT_SECONDS = 2.0


def _hex_height(result: Any) -> int:
    return int(str(result), 16)


def _n3_height(result: Any) -> int:
    return int(result) - 1  # getblockcount counts the genesis block: the height is one less


async def _probe(
    http: httpx.AsyncClient, url: str, method: str, height: Callable[[Any], int]
) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": []}
    try:
        reply = (await http.post(url, json=body)).raise_for_status().json()
    except (httpx.HTTPError, ValueError):
        return {"ok": False, "error": "unreachable"}
    if not isinstance(reply, dict) or "result" not in reply:
        return {"ok": False, "error": "rpc_error"}
    try:
        return {"ok": True, "height": height(reply["result"])}
    except (TypeError, ValueError):
        return {"ok": False, "error": "rpc_error"}


async def chain_readiness(settings: Settings) -> dict[str, dict[str, Any]]:
    """``{"evm": {...}, "neo_n3": {...}}`` for the chains configured in ``settings`` (none: ``{}``)."""
    probes: dict[str, tuple[str, str, Callable[[Any], int]]] = {}
    if settings.evm.rpc_url:
        probes["evm"] = (settings.evm.rpc_url, "eth_blockNumber", _hex_height)
    if settings.n3.rpc_url:
        probes["neo_n3"] = (settings.n3.rpc_url, "getblockcount", _n3_height)
    if not probes:
        return {}
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as http:
        results = await asyncio.gather(*(_probe(http, *probe) for probe in probes.values()))
    return dict(zip(probes, results, strict=True))
