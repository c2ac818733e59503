"""The platform's N3 relayer's transactions: test-invoke, build, sign in the enclave, record, send, track.

Shared by the request fulfiller (``fulfiller.py``) and the price publisher (``price_publisher.py``); what
to send and how an outcome is decided stay with them. The relayer's key lives in the enclave (the
:class:`N3TransactionSigner` asks it to sign); each transaction is a ``chain_fulfilments`` row of the
caller's (``chains.fulfilments``), and the rules are the fulfiller's (docs/chains-neo-n3.md, "Fulfiller"):

- the script is test-invoked with the relayer as a called-by-entry signer; its GAS consumed is the system
  fee (burnt in full whatever the execution uses, so no margin); ``valid_until_block = block count +
  valid_blocks``; the network fee comes from ``calculatenetworkfee`` with the relayer's verification script;
- the signed transaction is **recorded, then broadcast**: a process killed in between leaves a row that
  says what may be on the chain, and :meth:`N3Relay.wait` broadcasts it again when the node does not have it;
- no fee bumping and no nonces: an N3 transaction carries a random nonce and is valid until a block
  height. Once the chain is past that height without it, it can never be included: :meth:`N3Relay.wait`
  returns None and the caller builds and sends a new one.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from neo3 import vm
from neo3.core import types
from neo3.network.payloads.transaction import Transaction
from neo3.network.payloads.verification import Signer, Witness, WitnessScope

from neo_service_layer.chains.fulfilments import ChainFulfilment, FulfilmentPending, FulfilmentStore
from neo_service_layer.chains.neo_n3.rpc import N3Rpc, N3RpcError
from neo_service_layer.enclave.crypto import neo

#: valid_until_block = block count + this: ~20 s on a 1 s devnet, 5 min on MainNet's 15 s blocks.
DEFAULT_VALID_BLOCKS = 20
DEFAULT_POLL_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class N3SignedWitness:
    invocation_script: bytes
    verification_script: bytes


class N3TransactionSigner(Protocol):
    """The relayer key in the enclave: holds no key material itself."""

    async def relayer_public_key(self) -> bytes:
        """The compressed secp256r1 key whose account pays for and signs the transactions."""
        ...

    async def sign_transaction(self, tx: bytes, magic: int) -> N3SignedWitness: ...


def _uint160(display: str) -> types.UInt160:
    return types.UInt160.from_string(display[2:])


def call_script(contract: str, method: str, args: list[Any]) -> bytes:
    """A script calling ``contract.method(*args)`` (``contract``: ``0x`` display form) with all call flags."""
    builder = vm.ScriptBuilder()  # type: ignore[no-untyped-call]
    builder.emit_contract_call_with_args(_uint160(contract), method, args)
    return bytes(builder.to_array())


def vm_state(log: dict[str, Any]) -> str:
    """``HALT`` / ``FAULT`` of an application log's first execution."""
    executions = log.get("executions") or [{}]
    return str(executions[0].get("vmstate"))


class N3RelayTiming(Protocol):
    """What the relay takes from its sender's policy (the fulfiller's and the price publisher's)."""

    @property
    def valid_blocks(self) -> int:
        """valid_until_block = block count + this."""
        ...

    @property
    def poll_seconds(self) -> float:
        """The pause between two looks for a transaction's application log."""
        ...


class N3Relay:
    """Sends the relayer's transactions for one chain's rows (module docstring)."""

    def __init__(
        self,
        rpc: N3Rpc,
        store: FulfilmentStore,
        signer: N3TransactionSigner,
        timing: N3RelayTiming,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpc = rpc
        self.store = store
        self.signer = signer
        self.valid_blocks = timing.valid_blocks
        self.poll_seconds = timing.poll_seconds
        self._clock = clock

    async def test(self, script: bytes) -> dict[str, Any]:
        """A read-only run of ``script`` with the relayer's called-by-entry witness (``invokescript``)."""
        relayer = types.UInt160(neo.script_hash(await self.signer.relayer_public_key()))
        return await self.rpc.invoke_script(script, [{"account": f"0x{relayer}", "scopes": "CalledByEntry"}])

    async def build(self, script: bytes, system_fee: int) -> Transaction:
        """The unsigned transaction of ``script`` paid by the relayer, its network fee computed."""
        relayer_key = await self.signer.relayer_public_key()
        tx = Transaction(
            version=0,
            nonce=secrets.randbits(32),
            system_fee=system_fee,
            network_fee=0,
            valid_until_block=await self.rpc.block_count() + self.valid_blocks,
            attributes=[],
            signers=[Signer(types.UInt160(neo.script_hash(relayer_key)), WitnessScope.CALLED_BY_ENTRY)],
            script=script,
            witnesses=[Witness(b"", neo.verification_script(relayer_key))],
        )
        tx.network_fee = await self.rpc.network_fee(tx.to_array())
        return tx

    async def send(self, key: str, tx: Transaction) -> ChainFulfilment:
        """Sign ``tx`` in the enclave, record it on row ``key`` (status ``sent``), then broadcast it."""
        tx.witnesses = []
        witness = await self.signer.sign_transaction(tx.to_array(), await self.rpc.magic())
        tx.witnesses = [Witness(witness.invocation_script, witness.verification_script)]
        row = await self.store.record_signed(
            key,
            tx={
                "system_fee": tx.system_fee,
                "network_fee": tx.network_fee,
                "valid_until_block": tx.valid_until_block,
                "nonce": tx.nonce,
                "script": tx.script.hex(),
            },
            tx_hash=f"0x{tx.hash()}",
            raw_tx=tx.to_array(),
            relayer=f"0x{tx.signers[0].account}",
        )
        await self.broadcast(row)
        return row

    async def broadcast(self, row: ChainFulfilment) -> None:
        """Send the row's latest signed transaction to the node."""
        assert row.raw_tx is not None
        try:
            await self.rpc.send(row.raw_tx)
        except N3RpcError as e:
            # Already in the pool or in a block, or expired / invalid: the application log and the
            # valid-until height decide what happened; the row already says what was signed.
            if not any(w in str(e).lower() for w in ("already", "expired", "exist")):
                raise

    async def wait(
        self, row: ChainFulfilment, deadline: float, what: str
    ) -> tuple[str, dict[str, Any]] | None:
        """(tx hash, application log) of whichever of the row's transactions is in a block; None once the
        latest expired unseen; :class:`FulfilmentPending` at ``deadline`` (``what`` names the work)."""
        assert row.tx is not None
        assert row.tx_hash is not None
        valid_until = int(row.tx["valid_until_block"])
        rebroadcast = True
        while True:
            head = await self.rpc.block_count() - 1  # read first: a log missing after it is really missing
            for tx_hash in reversed(row.tx_hashes):
                log = await self.rpc.application_log(tx_hash)
                if log is not None:
                    return tx_hash, log
            if head >= valid_until:
                return None  # can no longer be included: rebuild
            if rebroadcast and not await self.rpc.in_mempool(row.tx_hash):
                await self.broadcast(row)  # recorded but never sent (we died first), or the node lost it
            rebroadcast = False
            if self._clock() >= deadline:
                raise FulfilmentPending(f"{what}: {row.tx_hash} not in a block yet")
            await asyncio.sleep(self.poll_seconds)
