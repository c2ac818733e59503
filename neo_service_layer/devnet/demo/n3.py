"""The demo on the devnet's Neo N3 chain.

The example consumers take requests from their owner only (``only the owner``): the account that
deployed them, ``accounts["deployer"]`` in the state file, whose key ``nsl devnet up`` keeps in the
devnet's NEP-6 wallet (``devnet/neo-n3/accounts.json``, password ``nsl-devnet``: devnets only). The
consumers pay the gateway's fee from their own GAS (funded at deployment). The gateway's ``Fulfilled``
notification is awaited and its result read back (docs/chains-neo-n3.md).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo3.api.wrappers import GenericContract
from neo3.core import types
from neo3.wallet import account
from neo3.wallet.scrypt_parameters import ScryptParameters

from neo_service_layer.chains.devnet.state import ChainRecord
from neo_service_layer.chains.neo_n3 import messages
from neo_service_layer.chains.neo_n3.devnet import DEVNET_WALLET_PASSWORD, facade_for
from neo_service_layer.chains.neo_n3.relay import call_script
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.chains.neo_n3.watcher import GatewayNotification, N3Watcher
from neo_service_layer.config import Settings
from neo_service_layer.devnet.demo import formats
from neo_service_layer.devnet.demo.errors import DevnetAccountMissing, N3RequestFailed
from neo_service_layer.devnet.demo.function_demo import DemoFunction
from neo_service_layer.devnet.demo.report import Delivery, FunctionsDemo, OracleDemo, RandomnessDemo
from neo_service_layer.devnet.demo.wait import wait_for
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.functions.onchain import decode_n3_result

REQUEST_EVENT, FULFILLED_EVENT = "Request", "Fulfilled"


def devnet_owner(record: ChainRecord) -> account.Account:
    """The consumers' owner (``accounts["deployer"]``), decrypted from the devnet's wallet."""
    path = Path(record.accounts.get("wallet", ""))
    address = record.accounts.get("deployer", "")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        scrypt = ScryptParameters.from_json(data["scrypt"])
        for entry in data["accounts"]:
            if entry["address"] == address:
                return account.Account.from_json(entry, DEVNET_WALLET_PASSWORD, scrypt_parameters=scrypt)
    except (OSError, ValueError, KeyError) as e:
        raise DevnetAccountMissing(f"cannot read the devnet wallet {path}: {e}") from e
    raise DevnetAccountMissing(f"the deployer {address or '(none recorded)'} is not in {path}")


def _bytes(item: dict[str, Any]) -> bytes:
    """A ByteString / Buffer stack item's bytes (empty for Null / Any)."""
    if item.get("type") in ("Any", "Null") or "value" not in item:
        return b""
    return base64.b64decode(item["value"])


@dataclass(frozen=True, slots=True)
class _Sent:
    request_id: int
    tx_hash: str
    block: int


class N3Demo:
    """The devnet's N3 contracts, and the owner account that talks to the consumers."""

    def __init__(self, record: ChainRecord, settings: Settings) -> None:
        self.record = record
        self.settings = settings
        self.gateway = str(record.contracts["gateway"]).lower()
        self.owner = devnet_owner(record)

    def _consumer(self, name: str) -> GenericContract:
        return GenericContract(types.UInt160.from_string(self.record.contracts["examples"][name][2:]))

    async def _read(self, rpc: N3Rpc, contract: str, method: str, args: list[Any]) -> dict[str, Any]:
        reply = await rpc.invoke_script(call_script(contract, method, args), [])
        if reply.get("state") != "HALT" or not reply.get("stack"):
            raise N3RequestFailed(f"{method}{tuple(args)} FAULTed: {reply.get('exception')}")
        return dict(reply["stack"][0])

    async def _send(self, consumer: GenericContract, method: str, args: list[Any]) -> _Sent:
        receipt = await facade_for(self.record.rpc_url, self.owner).invoke_multi(
            [consumer.call_function(method, args)]
        )
        # neo-mamba annotates state as VMState but hands over the RPC's string ("HALT" / "FAULT").
        if str(receipt.state) != "HALT":
            raise N3RequestFailed(f"{method} FAULTed: {receipt.exception}")
        for n in receipt.notifications:
            if n.event_name == REQUEST_EVENT and f"0x{n.contract}" == self.gateway:
                request_id = int(n.state.value[0].value)
                return _Sent(request_id, f"0x{receipt.tx_hash}", receipt.included_in_block)
        raise N3RequestFailed(f"{method} emitted no Request notification from the gateway")

    async def _wait(self, rpc: N3Rpc, sent: _Sent, within: float) -> GatewayNotification:
        watcher = N3Watcher(rpc, self.gateway)
        next_block = sent.block

        async def poll() -> GatewayNotification | None:
            nonlocal next_block
            head = await rpc.block_count() - 1
            async for found in watcher.notifications(next_block, head, FULFILLED_EVENT):
                items = found.notification.get("state", {}).get("value", [])
                if items and int(items[0].get("value", -1)) == sent.request_id:
                    return found
            next_block = head + 1
            return None

        chain, key = f"n3:{self.record.network}", f"{self.gateway[2:]}:{sent.request_id}"
        return await wait_for(poll, self.settings, chain, key, within=within)

    def _delivery(self, consumer: GenericContract, sent: _Sent, found: GatewayNotification) -> Delivery:
        return Delivery(
            chain="n3",
            consumer=f"0x{consumer.hash}",
            request_id=str(sent.request_id),
            request_tx=sent.tx_hash,
            request_block=sent.block,
            fulfil_tx=found.tx_hash,
            fulfil_block=found.block_index,
            # A callback that FAULTs fails the whole fulfilment on N3: a delivered result was called back.
            callback_success=True,
        )

    async def randomness(self, seed: bytes, *, verify_on_chain: bool, within: float) -> RandomnessDemo:
        """Request randomness for ``seed``, wait for the callback, re-verify the proof offline."""
        consumer = self._consumer("RandomnessConsumer")
        async with N3Rpc(self.record.rpc_url) as rpc:
            sent = await self._send(consumer, "request_randomness", [seed, verify_on_chain])
            # The key version the request is pinned to, read before the fulfilment deletes the request
            # (the next block at the earliest); the current version if it is already gone.
            stored = (await self._read(rpc, self.gateway, "get_request", [sent.request_id])).get("value")
            if stored:
                version = int.from_bytes(_bytes(stored[8]), "little")
            else:
                current = await self._read(rpc, self.gateway, "get_vrf_key_version", [])
                version = int(current["value"])
            found = await self._wait(rpc, sent, within)
            result = _bytes(found.notification["state"]["value"][1])
            key = _bytes(await self._read(rpc, self.gateway, "get_vrf_key_of", [version]))
            value = _bytes(await self._read(rpc, f"0x{consumer.hash}", "get_randomness", [sent.request_id]))
        parts = messages.split_randomness_result(result)
        gateway_le = bytes(types.UInt160.from_string(self.gateway[2:]).to_array())
        alpha = messages.randomness_alpha(int(self.record.network), gateway_le, sent.request_id, seed)
        return RandomnessDemo(
            delivery=self._delivery(consumer, sent, found),
            seed=seed,
            verify_on_chain=verify_on_chain,
            beta=parts.beta,
            consumer_value=value,
            public_key=key,
            key_version=version,
            alpha=alpha,
            pi=parts.pi,
            verified_offline=dyvrf.verify(key, alpha, parts.pi) == parts.beta,
        )

    async def oracle(self, url: str, filter_: str | None, *, within: float) -> OracleDemo:
        """Request ``url`` with ``filter_`` through the OracleConsumer; the delivered code and data."""
        consumer = self._consumer("OracleConsumer")
        payload = formats.n3_oracle_payload(url, filter_)
        async with N3Rpc(self.record.rpc_url) as rpc:
            sent = await self._send(consumer, "request_data", [payload])
            found = await self._wait(rpc, sent, within)
            stored = _bytes(await self._read(rpc, f"0x{consumer.hash}", "get_result", [sent.request_id]))
        return OracleDemo(
            delivery=self._delivery(consumer, sent, found),
            url=url,
            filter=filter_ or None,
            answer=formats.decode_n3_oracle_result(_bytes(found.notification["state"]["value"][1])),
            consumer_result=stored,
        )

    async def functions(self, function: DemoFunction, args: str, *, within: float) -> FunctionsDemo:
        """Call ``function`` (pinned to its source) with ``args`` through the FunctionsConsumer."""
        consumer = self._consumer("FunctionsConsumer")
        contract = f"0x{consumer.hash}"
        async with N3Rpc(self.record.rpc_url) as rpc:
            sent = await self._send(
                consumer, "request_function", [function.function_id, function.source_sha256, args]
            )
            found = await self._wait(rpc, sent, within)
            stored_code = await self._read(rpc, contract, "get_code", [sent.request_id])
            stored = _bytes(await self._read(rpc, contract, "get_result", [sent.request_id]))
        code, source_hash, data = decode_n3_result(_bytes(found.notification["state"]["value"][1]))
        return FunctionsDemo(
            delivery=self._delivery(consumer, sent, found),
            function_id=function.function_id,
            version=function.version,
            args=args,
            pinned=function.source_sha256,
            code=code.name,
            source_hash=source_hash,
            data=data,
            consumer_code=int(stored_code["value"]),
            consumer_data=stored,
        )
