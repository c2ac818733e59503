"""The platform's N3 relayer as a transaction signer: its key is created on first use and never leaves the
enclave (``keys.n3_sign_tx`` signs; the host keeps only the wrapped key).

:class:`N3EnclaveRelayerSigner` is the ``chains.neo_n3.relay.N3TransactionSigner`` every N3 sender uses:
the request fulfiller's signer (``worker/chain_fulfil_n3.py``) adds the services' enclave ops to it, and
the price publisher (``chains.neo_n3.price_publisher``) needs nothing more.
"""

from __future__ import annotations

from neo_service_layer.chains.neo_n3.relay import N3SignedWitness
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.opdefs.keys import N3_SIGN_TX, N3SignTxArgs
from neo_service_layer.services.keys.operations import KeyUse
from neo_service_layer.services.keys.platform import n3_relayer_key, public_key_of


class N3EnclaveRelayerSigner:
    """Signs transactions with the relayer key of the N3 network ``network_magic`` (created on first use)."""

    def __init__(self, db: Database, enclave: EnclaveClient, network_magic: int) -> None:
        self._db = db
        self._enclave = enclave
        self._magic = network_magic
        self._relayer: KeyUse | None = None

    async def _relayer_key(self) -> KeyUse:
        if self._relayer is None:
            self._relayer = await n3_relayer_key(self._db, self._enclave, self._magic)
        return self._relayer

    async def relayer_public_key(self) -> bytes:
        """The relayer's compressed secp256r1 public key (its account pays the fees: fund it with GAS)."""
        return public_key_of(await self._relayer_key())

    async def sign_transaction(self, tx: bytes, magic: int) -> N3SignedWitness:
        """The relayer's witness for the unsigned transaction ``tx`` on network ``magic``."""
        args = N3SignTxArgs(**(await self._relayer_key()).args(), transaction=tx, network_magic=magic)
        signed = await self._enclave.run(N3_SIGN_TX, args)
        return N3SignedWitness(signed.result.invocation_script, signed.result.verification_script)
