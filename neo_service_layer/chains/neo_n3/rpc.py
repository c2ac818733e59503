"""A small async JSON-RPC client for the N3 node calls the watcher and the fulfiller make.

Raw JSON (not neo-mamba's parsed responses): notifications are decoded by ``requests`` with typed errors,
and neo-mamba 3.3 cannot parse a FAULTed invocation that leaves a BLS12-381 interop item on the stack.
Transactions themselves are built and serialized with neo-mamba (``fulfiller``). Method names and
replies are neo-go's (``docs/rpc.md`` of neo-go 0.120, the same as the C# node's RpcServer).

Every transport failure or JSON-RPC error becomes :class:`N3RpcUnavailable` (a retryable 503), except
where a method documents that an error means "not there (yet)".
"""

from __future__ import annotations

import base64
from typing import Any, Self, cast

import httpx

from neo_service_layer.chains.neo_n3.errors import N3RpcUnavailable

DEFAULT_TIMEOUT_SECONDS = 10.0
#: neo-go / C# RpcServer codes of "unknown" (block, contract, transaction, storage item, script container).
_UNKNOWN_CODES = frozenset({-100, -101, -102, -103, -104, -105})


class N3RpcError(N3RpcUnavailable):
    """The node answered with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: {message} ({code})")
        self.rpc_code = code


class N3Rpc:
    """JSON-RPC over HTTP to one node; ``close()`` (or ``async with``) releases the connection pool."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.url = url
        self._http = httpx.AsyncClient(timeout=timeout)
        self._magic: int | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, params: list[Any]) -> Any:
        """The ``result`` of one call; :class:`N3RpcUnavailable` on any failure."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        try:
            reply = (await self._http.post(self.url, json=body)).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as e:
            # Not the URL, nor httpx's message (which quotes it): node URLs often carry an API key. ``from
            # None``: the logged traceback would print the original exception too.
            raise N3RpcUnavailable(f"{method}: the N3 node did not answer ({_describe(e)})") from None
        error = reply.get("error")
        if error is not None:
            raise N3RpcError(method, int(error.get("code", 0)), str(error.get("message", "")))
        return reply.get("result")

    async def magic(self) -> int:
        """The network magic (``getversion``), asked once."""
        if self._magic is None:
            self._magic = int((await self.call("getversion", []))["protocol"]["network"])
        return self._magic

    async def block_count(self) -> int:
        """Blocks in the chain: the newest block's index is this minus one."""
        return int(await self.call("getblockcount", []))

    async def block(self, index: int) -> dict[str, Any]:
        """Block ``index`` with its transactions (verbose form)."""
        return cast(dict[str, Any], await self.call("getblock", [index, 1]))

    async def application_log(self, tx_hash: str) -> dict[str, Any] | None:
        """The execution of transaction ``tx_hash`` (``0x…``), or None while it is not in a block."""
        try:
            return cast(dict[str, Any], await self.call("getapplicationlog", [tx_hash]))
        except N3RpcError as e:
            if e.rpc_code in _UNKNOWN_CODES:
                return None
            raise

    async def in_mempool(self, tx_hash: str) -> bool:
        return tx_hash in (await self.call("getrawmempool", []))

    async def invoke_script(self, script: bytes, signers: list[dict[str, str]]) -> dict[str, Any]:
        """A read-only run of ``script`` on the current state: state, gasconsumed, exception, stack."""
        return cast(
            dict[str, Any], await self.call("invokescript", [base64.b64encode(script).decode(), signers])
        )

    async def network_fee(self, tx: bytes) -> int:
        """The network fee ``tx`` (with its verification scripts) needs (``calculatenetworkfee``)."""
        return int((await self.call("calculatenetworkfee", [base64.b64encode(tx).decode()]))["networkfee"])

    async def send(self, tx: bytes) -> str:
        """Broadcast a signed transaction; its hash (``0x…``)."""
        return str((await self.call("sendrawtransaction", [base64.b64encode(tx).decode()]))["hash"])


def _describe(error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    return type(error).__name__
