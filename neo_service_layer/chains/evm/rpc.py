"""The worker's connection to an EVM node: web3's HTTP provider, with errors that never quote the URL.

requests' exceptions carry the URL, path included ("Max retries exceeded with url: /v3/<key>"), and
hosted-node URLs usually embed an API key. These errors end up in job rows and in logs (with the
traceback, so the original exception is dropped from the chain, not only from the message).
"""

from __future__ import annotations

from typing import Any

from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from neo_service_layer.chains.evm.errors import EvmRpcUnavailable

DEFAULT_TIMEOUT_SECONDS = 10.0


class RedactingHTTPProvider(HTTPProvider):
    """``HTTPProvider`` whose transport failures become :class:`EvmRpcUnavailable` without the URL."""

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            response: RPCResponse = super().make_request(method, params)
        # requests' exceptions (connection, timeout, HTTP status) are all OSErrors.
        except OSError as e:
            raise EvmRpcUnavailable(f"{method}: the EVM node did not answer ({_describe(e)})") from None
        return response


def _describe(error: OSError) -> str:
    status = getattr(getattr(error, "response", None), "status_code", None)
    return f"HTTP {status}" if status is not None else type(error).__name__


def node_web3(url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Web3:
    """A ``Web3`` on ``url`` through :class:`RedactingHTTPProvider`."""
    return Web3(RedactingHTTPProvider(url, request_kwargs={"timeout": timeout}))
