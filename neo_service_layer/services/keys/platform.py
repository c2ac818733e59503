"""Platform keys: what NSL itself uses on chains.

- the **relayers** (and the audit log's EVM anchor key, ``platform-evm-anchor-<chain id>``), keys of the
  keys service owned by the system account:
  ``platform-evm-relayer-<chain id>`` (secp256k1, operation ``evm_sign_transaction``) sends fulfilment
  transactions on that EVM chain and pays their gas; ``platform-n3-relayer-<network magic>`` (secp256r1,
  ``neo_sign_transaction``) the same on a Neo N3 network. They must be funded. They are **reserved**
  (``services/keys/reserved.py``): no ``/v1/keys`` operation, policy change or deletion reaches them,
  whoever asks; only ``nsl admin rotate-platform-key`` rotates them, audited;
- the **VRF keys** that prove on-chain randomness are not keys of this service at all: the enclave
  derives version ``v`` of each chain family's key from its identity (``enclave/chain_keys.py``), so no
  host process ever names one. :func:`chain_vrf_public_key` gives the public key a gateway registers
  under that version.

Relayers are created on first use. Creation is race-safe: the key name is unique per account, so of two
workers creating the same key at once one insert fails, and that worker reads the winner's key instead
(``keys.service.create_key`` turns the unique violation into ``KeyNameTaken``).

The enclave's signer (the EVM gateway's ``enclaveSigner``, the N3 gateway's enclave key) is not a key of
this service either: it is the enclave identity's secp256k1 (EVM) or secp256r1 (N3) key, published in
the attestation report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.chains.evm.relay import SignedTx
from neo_service_layer.chains.neo_n3.relay import N3SignedWitness
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.chain_keys import ChainFamily
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.crypto import evm, neo
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.opdefs.chains import VRF_PUBLIC_KEY, VrfPublicKeyArgs, VrfPublicKeyResult
from neo_service_layer.enclave.opdefs.keys import N3_SIGN_TX, N3SignTxArgs
from neo_service_layer.services.accounts.service import system_account
from neo_service_layer.services.keys.errors import (
    InvalidKeyPolicy,
    KeyNameTaken,
    KeyNotFound,
    SystemAccountMissing,
)
from neo_service_layer.services.keys.models import Key
from neo_service_layer.services.keys.operations import KeyUse, sign_evm_tx, use
from neo_service_layer.services.keys.policy import Operation
from neo_service_layer.services.keys.reserved import RESERVED_KEY_PREFIX, allow_reserved
from neo_service_layer.services.keys.service import create_key, not_deleted, rotate

EVM_RELAYER_KEY_PREFIX = f"{RESERVED_KEY_PREFIX}evm-relayer-"
N3_RELAYER_KEY_PREFIX = f"{RESERVED_KEY_PREFIX}n3-relayer-"
EVM_ANCHOR_KEY_PREFIX = f"{RESERVED_KEY_PREFIX}evm-anchor-"
#: The platform keys an operator rotates (``nsl admin platform-keys rotate``).
ROTATABLE_PREFIXES = (EVM_RELAYER_KEY_PREFIX, N3_RELAYER_KEY_PREFIX, EVM_ANCHOR_KEY_PREFIX)
#: The VRF key version a new deployment registers (``nsl admin rotate-platform-key`` moves it on).
DEFAULT_VRF_KEY_VERSION = 1


def evm_relayer_key_name(chain_id: int) -> str:
    return f"{EVM_RELAYER_KEY_PREFIX}{chain_id}"


def n3_relayer_key_name(network_magic: int) -> str:
    return f"{N3_RELAYER_KEY_PREFIX}{network_magic}"


def evm_anchor_key_name(chain_id: int) -> str:
    return f"{EVM_ANCHOR_KEY_PREFIX}{chain_id}"


async def platform_key(
    db: Database, enclave: EnclaveClient, name: str, key_type: KeyType, operation: Operation
) -> KeyUse:
    """The system account's key ``name`` ready for ``operation``, created (version 1) on first use."""
    async with db.transaction() as session:
        account = await system_account(session)
    if account is None:
        raise SystemAccountMissing("no system account: start the API once (nsl api) to bootstrap it")
    async with db.transaction(account.id) as session:
        allow_reserved(session)
        key_id = await session.scalar(select(Key.id).where(Key.name == name, not_deleted(utcnow())))
        if key_id is None:
            try:
                key, _ = await create_key(
                    session, enclave, account.id, name=name, key_type=key_type, allowed=[operation]
                )
                key_id = key.id
            except KeyNameTaken:
                # Another worker created it meanwhile; its row is committed (the insert waited for it).
                key_id = await session.scalar(select(Key.id).where(Key.name == name))
                assert key_id is not None
        return await use(session, key_id, operation, None)


async def evm_anchor_key(db: Database, enclave: EnclaveClient, chain_id: int) -> KeyUse:
    """The key that publishes audit checkpoints on EVM chain ``chain_id`` (its own nonces: the relayer's
    belong to the fulfiller). It must be funded."""
    return await platform_key(
        db, enclave, evm_anchor_key_name(chain_id), KeyType.SECP256K1, Operation.EVM_SIGN_TRANSACTION
    )


async def evm_relayer_key(db: Database, enclave: EnclaveClient, chain_id: int) -> KeyUse:
    """The relayer key of EVM chain ``chain_id``."""
    return await platform_key(
        db, enclave, evm_relayer_key_name(chain_id), KeyType.SECP256K1, Operation.EVM_SIGN_TRANSACTION
    )


class EnclaveRelayerSigner:
    """The relayer of EVM chain ``chain_id`` as a ``chains.evm.relay.TransactionSigner``: its address, and
    transactions signed in the enclave with its key (loaded, or created, on first use). What the
    fulfiller and the price publisher send with."""

    def __init__(self, db: Database, enclave: EnclaveClient, chain_id: int) -> None:
        self._db = db
        self._enclave = enclave
        self._chain_id = chain_id
        self._relayer: KeyUse | None = None

    async def _relayer_key(self) -> KeyUse:
        if self._relayer is None:
            self._relayer = await evm_relayer_key(self._db, self._enclave, self._chain_id)
        return self._relayer

    async def relayer(self) -> str:
        """The relayer's address (it pays the gas: fund it)."""
        return evm.address(public_key_of(await self._relayer_key()))

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        """``tx`` (an EIP-1559 transaction dict) signed by the relayer key in the enclave."""
        signed = await sign_evm_tx(self._enclave, await self._relayer_key(), tx)
        return SignedTx(raw=signed.result.raw_transaction, tx_hash="0x" + signed.result.tx_hash.hex())


async def chain_vrf_public_key(
    enclave: EnclaveClient, family: ChainFamily, version: int = DEFAULT_VRF_KEY_VERSION
) -> VrfPublicKeyResult:
    """Version ``version`` of ``family``'s platform VRF key, derived in the enclave (module docstring)."""
    args = VrfPublicKeyArgs(family=family, version=version)
    return await enclave.run(VRF_PUBLIC_KEY, args)


async def rotate_platform_key(session: AsyncSession, enclave: EnclaveClient, name: str) -> KeyUse:
    """Add the next version of reserved key ``name`` (a relayer or an audit anchor key) in the system
    account's ``session``: it signs from now on. Only the operator's ``nsl admin platform-keys rotate``
    calls it, and audits it in the same transaction. KeyNotFound unless the key exists."""
    if not name.startswith(ROTATABLE_PREFIXES):
        rotatable = ", ".join(f"{prefix}<id>" for prefix in ROTATABLE_PREFIXES)
        raise InvalidKeyPolicy(
            f"{name!r} is not a rotatable platform key ({rotatable}); VRF keys are versioned on the "
            "gateways instead"
        )
    account = await system_account(session)
    if account is None:
        raise SystemAccountMissing("no system account: start the API once (nsl api) to bootstrap it")
    allow_reserved(session)
    key = await session.scalar(select(Key).where(Key.name == name, not_deleted(utcnow())))
    if key is None:
        raise KeyNotFound(f"no platform key {name!r}", name=name)
    await rotate(session, enclave, account.id, key.id)
    return await use(session, key.id, Operation(key.allowed_operations[0]), None)


def public_key_of(key_use: KeyUse) -> bytes:
    public = key_use.version.public_key
    assert public is not None, "asymmetric key versions store their public key"
    return public


@dataclass(frozen=True, slots=True)
class EvmPlatformKeys:
    """What a gateway deployment registers: the enclave signer, the VRF key, and who to fund."""

    enclave_signer: str  # the enclave identity's secp256k1 address: setEnclave / constructor
    vrf_key_version: int  # setVrfPublicKey(version, …)
    vrf_public_key: bytes  # compressed G1, 48 bytes
    vrf_public_key_eip2537: bytes  # what setVrfPublicKey takes (EIP-2537 G1, 128 bytes)
    relayer: str  # the relayer key's address: fund it


async def evm_platform_keys(
    db: Database, enclave: EnclaveClient, chain_id: int, *, vrf_key_version: int = DEFAULT_VRF_KEY_VERSION
) -> EvmPlatformKeys:
    """The platform's public keys for a gateway on ``chain_id`` (creating the relayer on first use)."""
    report = await enclave.attest()
    vrf = await chain_vrf_public_key(enclave, ChainFamily.EVM, vrf_key_version)
    relayer = await evm_relayer_key(db, enclave, chain_id)
    return EvmPlatformKeys(
        enclave_signer=report.identity.k1_address,
        vrf_key_version=vrf_key_version,
        vrf_public_key=vrf.public_key,
        vrf_public_key_eip2537=vrf.public_key_eip2537,
        relayer=evm.address(public_key_of(relayer)),
    )


async def n3_relayer_key(db: Database, enclave: EnclaveClient, network_magic: int) -> KeyUse:
    """The relayer key of the Neo N3 network ``network_magic``."""
    return await platform_key(
        db, enclave, n3_relayer_key_name(network_magic), KeyType.SECP256R1, Operation.NEO_SIGN_TRANSACTION
    )


class N3EnclaveRelayerSigner:
    """The relayer of the N3 network ``network_magic`` as a ``chains.neo_n3.relay.N3TransactionSigner``:
    its public key, and transactions signed in the enclave (``keys.n3_sign_tx``) with its key (loaded, or
    created, on first use). What the N3 fulfiller and the N3 price publisher send with."""

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


@dataclass(frozen=True, slots=True)
class N3PlatformKeys:
    """What an N3 gateway deployment registers (enclave key, VRF key) and who to fund (the relayer)."""

    enclave_public_key: bytes  # the enclave identity's secp256r1 key, SEC 1 compressed (33 bytes)
    vrf_key_version: int  # set_vrf_key(version, …)
    vrf_public_key: bytes  # compressed G1, 48 bytes (what CryptoLib.bls12381Deserialize takes)
    relayer_public_key: bytes  # secp256r1, compressed
    relayer_script_hash: str  # 0x… (big-endian, as N3 tools display it): fund it with GAS
    relayer_address: str  # the N3 address (N…) of the relayer


async def n3_platform_keys(
    db: Database,
    enclave: EnclaveClient,
    network_magic: int,
    *,
    vrf_key_version: int = DEFAULT_VRF_KEY_VERSION,
) -> N3PlatformKeys:
    """The platform's public keys for a gateway on the N3 network ``network_magic`` (relayer created on
    first use)."""
    report = await enclave.attest()
    vrf = await chain_vrf_public_key(enclave, ChainFamily.N3, vrf_key_version)
    relayer = public_key_of(await n3_relayer_key(db, enclave, network_magic))
    return N3PlatformKeys(
        enclave_public_key=bytes.fromhex(report.identity.p256),
        vrf_key_version=vrf_key_version,
        vrf_public_key=vrf.public_key,
        relayer_public_key=relayer,
        relayer_script_hash=neo.script_hash_hex(relayer),
        relayer_address=neo.address(relayer),
    )
