"""The demo on the devnet's EVM chain: the example consumers request from the test account (anvil dev
account 1, whose well-known key anvil wrote to ``devnet/evm/config.json``), the gateway's ``Fulfilled``
log is awaited, and its result read back (docs/chains-evm.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from neo_service_layer.chains.devnet.state import ChainRecord
from neo_service_layer.chains.evm import messages
from neo_service_layer.chains.evm.build import build_contracts
from neo_service_layer.chains.evm.deploy import contract_at
from neo_service_layer.chains.evm.gateway_rpc import FulfilledLog, GatewayRpc
from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.requests import SERVICE_REQUESTED_TOPIC, decode_service_requested
from neo_service_layer.chains.evm.rpc import node_web3
from neo_service_layer.chains.evm.tx import fill_fees, transact
from neo_service_layer.config import Settings
from neo_service_layer.devnet.demo import formats
from neo_service_layer.devnet.demo.errors import DevnetAccountMissing
from neo_service_layer.devnet.demo.function_demo import DemoFunction
from neo_service_layer.devnet.demo.report import Delivery, FunctionsDemo, OracleDemo, RandomnessDemo
from neo_service_layer.devnet.demo.wait import wait_for
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.functions.onchain import decode_evm_result

ANVIL_ACCOUNTS_FILE = "config.json"


def devnet_test_signer(record: ChainRecord) -> LocalAccount:
    """The devnet's funded test account (``accounts["test"]``), with the key anvil wrote for it."""
    path = Path(record.workdir) / ANVIL_ACCOUNTS_FILE
    address = record.accounts.get("test", "")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pairs = zip(data["available_accounts"], data["private_keys"], strict=True)
    except (OSError, ValueError, KeyError) as e:
        raise DevnetAccountMissing(f"cannot read anvil's account file {path}: {e}") from e
    for candidate, key in pairs:
        if candidate.lower() == address.lower():
            signer: LocalAccount = Account.from_key(key)
            return signer
    raise DevnetAccountMissing(f"the test account {address or '(none recorded)'} is not in {path}")


@dataclass(frozen=True, slots=True)
class _Sent:
    request_id: bytes
    receipt: TxReceipt


class EvmDemo:
    """The devnet's EVM contracts, and the test account that talks to them."""

    def __init__(self, record: ChainRecord, settings: Settings) -> None:
        self.record = record
        self.settings = settings
        self.w3: Web3 = node_web3(record.rpc_url)
        self.build = build_contracts()
        self.gateway_address = Web3.to_checksum_address(record.contracts["gateway"])
        self.gateway = contract_at(self.w3, self.build["NSLGateway"], self.gateway_address)
        self.rpc = GatewayRpc(self.w3, self.gateway_address)
        self.signer = devnet_test_signer(record)

    def _consumer(self, name: str) -> Contract:
        return contract_at(self.w3, self.build[name], self.record.contracts["examples"][name])

    def _send(self, consumer: Contract, fn: Any, service: str, mode: Mode) -> _Sent:
        """Call ``fn`` of ``consumer`` paying the gateway's price for its callback gas; the request id."""
        gas = int(consumer.functions.CALLBACK_GAS().call())
        gas_price = int(fill_fees(self.w3, {})["maxFeePerGas"])  # what transact offers at most
        price = int(
            self.gateway.functions.requestPrice(
                messages.service_id(service), int(mode), gas, gas_price
            ).call()
        )
        receipt = transact(self.w3, self.signer, fn, value=price)
        chain_id = int(self.record.network)
        for log in receipt["logs"]:
            if (
                Web3.to_checksum_address(log["address"]) == self.gateway_address
                and bytes(log["topics"][0]) == SERVICE_REQUESTED_TOPIC
            ):
                return _Sent(decode_service_requested(chain_id, log).request_id, receipt)
        raise AssertionError("the gateway emitted no ServiceRequested event")  # the call would have reverted

    async def _wait(self, sent: _Sent, within: float) -> FulfilledLog:
        block = int(sent.receipt["blockNumber"])

        async def poll() -> FulfilledLog | None:
            return self.rpc.find_fulfilled(sent.request_id, block)

        key = sent.request_id.hex()
        return await wait_for(poll, self.settings, f"evm:{self.record.network}", key, within=within)

    def _delivery(self, consumer: Contract, sent: _Sent, log: FulfilledLog) -> Delivery:
        return Delivery(
            chain="evm",
            consumer=consumer.address,
            request_id=HexBytes(sent.request_id).to_0x_hex(),
            request_tx=HexBytes(sent.receipt["transactionHash"]).to_0x_hex(),
            request_block=int(sent.receipt["blockNumber"]),
            fulfil_tx=log.tx_hash,
            fulfil_block=log.block_number,
            callback_success=log.callback_success,
        )

    async def randomness(self, seed: bytes, *, verify_on_chain: bool, within: float) -> RandomnessDemo:
        """Request randomness for ``seed``, wait for the callback, re-verify the proof offline."""
        consumer = self._consumer("RandomnessConsumer")
        mode = Mode.ONCHAIN_VERIFY if verify_on_chain else Mode.SIGNATURE_ONLY
        sent = self._send(
            consumer, consumer.functions.requestRandomness(seed, verify_on_chain), "randomness", mode
        )
        log = await self._wait(sent, within)
        beta, pi_eip2537 = messages.split_randomness_result(log.result)
        version = self.rpc.get_request(sent.request_id).vrf_key_version
        public_key = formats.compress_eip2537_g1(bytes(self.gateway.functions.vrfPublicKeys(version).call()))
        alpha = messages.randomness_alpha(
            int(self.record.network), self.gateway_address, sent.request_id, seed
        )
        pi = messages.compress_eip2537_g2(pi_eip2537)
        draw = consumer.functions.draws(sent.request_id).call()  # (requested, fulfilled, verified, value)
        return RandomnessDemo(
            delivery=self._delivery(consumer, sent, log),
            seed=seed,
            verify_on_chain=verify_on_chain,
            beta=beta,
            consumer_value=bytes(draw[3]),
            public_key=public_key,
            key_version=version,
            alpha=alpha,
            pi=pi,
            verified_offline=dyvrf.verify(public_key, alpha, pi) == beta,
        )

    async def oracle(
        self, url: str, filter_: str | None, *, within: float, extract: str | None = None
    ) -> OracleDemo:
        """Request ``url`` with ``filter_`` (and ``extract``: a typed value) through the OracleConsumer;
        the delivered code and data."""
        consumer = self._consumer("OracleConsumer")
        payload = formats.evm_oracle_payload(url, filter_, extract)
        sent = self._send(consumer, consumer.functions.requestData(payload), "oracle", Mode.SIGNATURE_ONLY)
        log = await self._wait(sent, within)
        return OracleDemo(
            delivery=self._delivery(consumer, sent, log),
            url=url,
            filter=filter_ or None,
            answer=formats.decode_evm_oracle_result(log.result),
            consumer_result=bytes(consumer.functions.results(sent.request_id).call()),
            extract=extract or None,
        )

    async def functions(self, function: DemoFunction, args: str, *, within: float) -> FunctionsDemo:
        """Call ``function`` (pinned to its source) with ``args`` through the FunctionsConsumer."""
        consumer = self._consumer("FunctionsConsumer")
        pinned = bytes.fromhex(function.source_sha256)
        call = consumer.functions.requestFunction(function.function_id, pinned, args)
        sent = self._send(consumer, call, "functions", Mode.SIGNATURE_ONLY)
        log = await self._wait(sent, within)
        code, source_hash, data = decode_evm_result(log.result)
        return FunctionsDemo(
            delivery=self._delivery(consumer, sent, log),
            function_id=function.function_id,
            version=function.version,
            args=args,
            pinned=function.source_sha256,
            code=code.name,
            source_hash=source_hash,
            data=data,
            consumer_code=int(consumer.functions.codes(sent.request_id).call()),
            consumer_data=bytes(consumer.functions.results(sent.request_id).call()),
        )
