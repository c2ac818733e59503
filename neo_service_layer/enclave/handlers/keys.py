"""Keys service ops: generate key versions and use them (sign, verify, encrypt, MAC, chain signing, backup).

Each op that uses a key version opens the account master key (AMK), unwraps the version's material
(purpose ``key-material``, context ``"<key_id>:<version>"``: a row swapped by the host fails to open),
runs the pure crypto library (``enclave/crypto``) and returns only public results. The unwrapped,
loaded version is cached for the next request with exactly the same inputs (``_load_version``).
Material never leaves the enclave unwrapped and is never logged; error details name fields and reasons
only.

Operational ops are ``signed=True``: their results carry the identity's signatures over the request
(key id, version, type and the client's inputs) and the result (docs/enclave.md §3).

User encryption binds the client's encryption context and the key version as AES-GCM additional data
(NIST SP 800-38D §5.2.1.1; the AWS KMS "encryption context", OpenBao transit "associated_data")::

    aad = "nsl-keys-encrypt-v1" ‖ 0x00 ‖ key_id ‖ 0x00 ‖ decimal(version) ‖ 0x00 ‖ context
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError

from neo_service_layer.enclave.canonical import CanonicalJSONError, b64decode, b64encode, canonical_json
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import aead, evm, keys, mac, neo, signing
from neo_service_layer.enclave.crypto.errors import DecryptionFailed, InvalidKeyMaterial
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.keys import (
    BACKUP,
    BACKUP_LABEL,
    DATAKEY,
    DECRYPT,
    ENCRYPT,
    EVM_SIGN_MESSAGE,
    EVM_SIGN_TX,
    EVM_SIGN_TYPED_DATA,
    GENERATE,
    HMAC,
    HMAC_VERIFY,
    N3_SIGN_TX,
    RESTORE,
    REWRAP,
    SIGN,
    VERIFY,
    BackupArgs,
    BackupResult,
    CiphertextResult,
    DataKeyArgs,
    DataKeyResult,
    DecryptArgs,
    EncryptArgs,
    EvmSignatureResult,
    EvmSignMessageArgs,
    EvmSignTxArgs,
    EvmSignTxResult,
    EvmSignTypedDataArgs,
    GenerateArgs,
    GenerateResult,
    HmacArgs,
    HmacResult,
    HmacVerifyArgs,
    KeyVersionArgs,
    N3SignTxArgs,
    N3SignTxResult,
    PlaintextResult,
    RestoreArgs,
    RestoredVersion,
    RestoreResult,
    RewrapArgs,
    SignArgs,
    SignResult,
    ValidResult,
    VerifyArgs,
    WrappedVersion,
    backup_aad,
    backup_header,
    material_context,
    parse_backup_header,
)
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import CryptoFailure, InvalidArgs, KeyUnusable
from neo_service_layer.enclave.wrapping import WrapPurpose, unwrap, wrap

ENCRYPT_LABEL = b"nsl-keys-encrypt-v1"
registry = OpRegistry()


def encryption_aad(key_id: str, version: int, context: bytes) -> bytes:
    return b"\x00".join((ENCRYPT_LABEL, key_id.encode(), str(version).encode(), context))


def _open(ctx: EnclaveContext, account_id: str, amk: SealedAmk) -> bytes:
    return ctx.open_amk(account_id, amk.version, amk.sealed)


def _load_version(
    ctx: EnclaveContext,
    account_id: str,
    key_id: str,
    version: int,
    key_type: KeyType,
    amk: SealedAmk,
    wrapped: bytes,
) -> keys.LoadedKey:
    """The key version in ``wrapped``, unwrapped under ``amk`` and loaded; from ``ctx.key_versions``
    when the very same inputs were loaded before.

    The cache key is every input of the unwrap and the load, the blobs compared byte for byte, so a hit
    is exactly what this call would compute: another account, key, version, type, AMK or wrapped blob
    (a tampered one, a rewrap under a rotated AMK) misses and goes through the AEAD check, and a blob
    that fails it is never cached. The enclave keeps no key lifecycle: the host refuses a disabled or
    destroyed version before asking (docs/keys.md) and, once a version is purged, no longer holds the
    wrapped blob that is the only way to reach its entry. The cache holds the plaintext material of up
    to ``key_cache_size`` recent versions in this process (as the AMK cache holds AMKs, from which
    the same material unwraps) until they are evicted or the enclave stops (``clear_caches``).
    """
    cache_key = (account_id, key_id, version, key_type, amk.version, amk.sealed, wrapped)
    cached = ctx.key_versions.get(cache_key)
    if cached is not None:
        return cached
    material = unwrap(
        _open(ctx, account_id, amk),
        account_id,
        WrapPurpose.KEY_MATERIAL,
        material_context(key_id, version),
        wrapped,
    )
    try:
        loaded = keys.LoadedKey(key_type, material)
    except InvalidKeyMaterial as exc:
        detail = f"the stored material of {key_id} v{version} is not {key_type.value} material"
        raise KeyUnusable(detail) from exc
    ctx.key_versions.put(cache_key, loaded)
    return loaded


def version_key(ctx: EnclaveContext, args: KeyVersionArgs) -> keys.LoadedKey:
    """The key version in ``args``, loaded (``KeyUnusable`` if its material is not of its type)."""
    return _load_version(
        ctx, args.account_id, args.key_id, args.version, args.key_type, args.amk, args.material
    )


def version_material(ctx: EnclaveContext, args: KeyVersionArgs) -> bytes:
    """The plaintext material of the key version in ``args`` (``KeyUnusable`` if it is not of its type).

    Shared with the other handler modules that use key versions (``randomness``).
    """
    return version_key(ctx, args).material


def _require(key_type: KeyType, capable: bool, operation: str) -> None:
    if not capable:
        raise KeyUnusable(f"key type {key_type.value} cannot {operation}")


@registry.handler(GENERATE)
async def generate(ctx: EnclaveContext, args: GenerateArgs) -> GenerateResult:
    """Fresh material for ``key_id`` v``version``, wrapped under the AMK; and its public key."""
    material = keys.generate(args.key_type)
    public = keys.public_key(args.key_type, material) if args.key_type.is_asymmetric else None
    wrapped = wrap(
        _open(ctx, args.account_id, args.amk),
        args.account_id,
        WrapPurpose.KEY_MATERIAL,
        material_context(args.key_id, args.version),
        material,
    )
    return GenerateResult(wrapped=wrapped, public_key=public)


@registry.handler(SIGN)
async def sign(ctx: EnclaveContext, args: SignArgs) -> SignResult:
    _require(args.key_type, args.key_type.can_sign, "sign")
    args.key_type.check_signature_params(args.hash, args.format)
    key = version_key(ctx, args)
    assert key.public_key is not None  # every type that signs has one
    return SignResult(
        key_id=args.key_id,
        version=args.version,
        hash=args.hash,
        format=args.format,
        public_key=key.public_key,
        signature=signing.sign_with_key(key, args.data, hash_alg=args.hash, fmt=args.format),
    )


@registry.handler(VERIFY)
async def verify(ctx: EnclaveContext, args: VerifyArgs) -> ValidResult:
    """Verify against the public key derived from the stored material (not one the host could swap)."""
    _require(args.key_type, args.key_type.can_verify, "verify")
    args.key_type.check_signature_params(args.hash, args.format)
    public = version_key(ctx, args).public_key
    assert public is not None  # every type that verifies has one
    valid = signing.verify(
        args.key_type, public, args.data, args.signature, hash_alg=args.hash, fmt=args.format
    )
    return ValidResult(key_id=args.key_id, version=args.version, valid=valid)


@registry.handler(ENCRYPT)
async def encrypt(ctx: EnclaveContext, args: EncryptArgs) -> CiphertextResult:
    _require(args.key_type, args.key_type.can_encrypt, "encrypt")
    blob = aead.encrypt(
        version_material(ctx, args), args.plaintext, encryption_aad(args.key_id, args.version, args.context)
    )
    return CiphertextResult(key_id=args.key_id, version=args.version, ciphertext=blob)


def _decrypt(ctx: EnclaveContext, args: DecryptArgs) -> bytes:
    _require(args.key_type, args.key_type.can_encrypt, "decrypt")
    return aead.decrypt(
        version_material(ctx, args), args.ciphertext, encryption_aad(args.key_id, args.version, args.context)
    )


@registry.handler(DECRYPT)
async def decrypt(ctx: EnclaveContext, args: DecryptArgs) -> PlaintextResult:
    return PlaintextResult(key_id=args.key_id, version=args.version, plaintext=_decrypt(ctx, args))


@registry.handler(REWRAP)
async def rewrap(ctx: EnclaveContext, args: RewrapArgs) -> CiphertextResult:
    """Decrypt under ``version`` and encrypt under ``target_version``; the plaintext stays inside."""
    plaintext = _decrypt(ctx, args)
    target = _load_version(
        ctx,
        args.account_id,
        args.key_id,
        args.target_version,
        args.key_type,
        args.target_amk,
        args.target_material,
    ).material
    blob = aead.encrypt(target, plaintext, encryption_aad(args.key_id, args.target_version, args.context))
    return CiphertextResult(key_id=args.key_id, version=args.target_version, ciphertext=blob)


@registry.handler(DATAKEY)
async def datakey(ctx: EnclaveContext, args: DataKeyArgs) -> DataKeyResult:
    """A fresh AES-256 data key encrypted under the key (envelope encryption); plaintext on request."""
    _require(args.key_type, args.key_type.can_generate_data_key, "generate data keys")
    data_key = aead.generate_wrapped_data_key(
        version_material(ctx, args), encryption_aad(args.key_id, args.version, args.context)
    )
    return DataKeyResult(
        key_id=args.key_id,
        version=args.version,
        ciphertext=data_key.ciphertext,
        plaintext=data_key.plaintext if args.include_plaintext else None,
    )


@registry.handler(HMAC)
async def hmac(ctx: EnclaveContext, args: HmacArgs) -> HmacResult:
    _require(args.key_type, args.key_type.can_hmac, "compute an HMAC")
    tag = mac.hmac_sha256(version_material(ctx, args), args.data)
    return HmacResult(key_id=args.key_id, version=args.version, mac=tag)


@registry.handler(HMAC_VERIFY)
async def hmac_verify(ctx: EnclaveContext, args: HmacVerifyArgs) -> ValidResult:
    _require(args.key_type, args.key_type.can_hmac, "verify an HMAC")
    valid = mac.hmac_verify(version_material(ctx, args), args.data, args.mac)
    return ValidResult(key_id=args.key_id, version=args.version, valid=valid)


@registry.handler(N3_SIGN_TX)
async def n3_sign_tx(ctx: EnclaveContext, args: N3SignTxArgs) -> N3SignTxResult:
    """The standard-account witness of a serialized Neo N3 transaction (secp256r1 keys)."""
    _require(args.key_type, args.key_type is KeyType.SECP256R1, "sign Neo N3 transactions")
    key = version_key(ctx, args)
    assert key.public_key is not None  # secp256r1
    witness = neo.sign_n3_transaction(key.material, args.transaction, args.network_magic)
    return N3SignTxResult(
        key_id=args.key_id,
        version=args.version,
        public_key=key.public_key,
        tx_hash="0x" + neo.transaction_hash(args.transaction)[::-1].hex(),
        signature=witness.signature,
        invocation_script=witness.invocation_script,
        verification_script=witness.verification_script,
    )


def _k1(ctx: EnclaveContext, args: KeyVersionArgs, operation: str) -> tuple[bytes, str]:
    _require(args.key_type, args.key_type is KeyType.SECP256K1, operation)
    key = version_key(ctx, args)
    assert key.public_key is not None  # secp256k1
    return key.material, evm.address(key.public_key)


@registry.handler(EVM_SIGN_TX)
async def evm_sign_tx(ctx: EnclaveContext, args: EvmSignTxArgs) -> EvmSignTxResult:
    """An EIP-155 legacy or EIP-1559 transaction, signed (secp256k1 keys)."""
    material, address = _k1(ctx, args, "sign EVM transactions")
    sender = args.transaction.get("from")
    if sender is not None and (not isinstance(sender, str) or sender.lower() != address.lower()):
        raise CryptoFailure("transaction 'from' is not this key's address")
    transaction = {k: v for k, v in args.transaction.items() if k != "from"}
    signed = evm.sign_transaction(material, transaction)
    return EvmSignTxResult(
        key_id=args.key_id,
        version=args.version,
        address=address,
        raw_transaction=signed.raw_transaction,
        tx_hash=signed.tx_hash,
    )


@registry.handler(EVM_SIGN_MESSAGE)
async def evm_sign_message(ctx: EnclaveContext, args: EvmSignMessageArgs) -> EvmSignatureResult:
    """EIP-191 ``personal_sign`` of the message (secp256k1 keys)."""
    material, address = _k1(ctx, args, "sign EIP-191 messages")
    return EvmSignatureResult(
        key_id=args.key_id,
        version=args.version,
        address=address,
        hash=evm.eip191_hash(args.message),
        signature=evm.sign_message_eip191(material, args.message),
    )


@registry.handler(EVM_SIGN_TYPED_DATA)
async def evm_sign_typed_data(ctx: EnclaveContext, args: EvmSignTypedDataArgs) -> EvmSignatureResult:
    """EIP-712 signature of typed data (secp256k1 keys)."""
    material, address = _k1(ctx, args, "sign EIP-712 typed data")
    return EvmSignatureResult(
        key_id=args.key_id,
        version=args.version,
        address=address,
        hash=evm.eip712_hash(args.typed_data),
        signature=evm.sign_typed_data_eip712(material, args.typed_data),
    )


def _backup_key(amk: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=aead.KEY_SIZE, salt=None, info=BACKUP_LABEL).derive(amk)


@registry.handler(BACKUP)
async def backup(ctx: EnclaveContext, args: BackupArgs) -> BackupResult:
    """Every given version's material, re-encrypted under a backup key of this account (module docs)."""
    amks = {amk.version: amk for amk in args.amks}
    versions: list[dict[str, Any]] = []
    for item in args.versions:
        amk = amks.get(item.amk_version)
        if amk is None:
            raise InvalidArgs(f"no sealed AMK of version {item.amk_version} was given")
        material = _load_version(
            ctx, args.account_id, args.key_id, item.version, args.key_type, amk, item.material
        ).material
        versions.append({"version": item.version, "material": b64encode(material)})
    try:
        content = {"key_type": args.key_type.value, "policy": args.policy, "versions": versions}
        payload = canonical_json(content)
    except CanonicalJSONError as exc:
        raise InvalidArgs(f"policy cannot be encoded: {exc}") from exc
    header = backup_header(args.target.version, args.key_id)
    sealed = aead.encrypt(
        _backup_key(_open(ctx, args.account_id, args.target)), payload, backup_aad(args.account_id, header)
    )
    return BackupResult(backup=header + sealed)


@registry.handler(RESTORE)
async def restore(ctx: EnclaveContext, args: RestoreArgs) -> RestoreResult:
    """Open a backup of this account and wrap its versions under the target AMK."""
    try:
        amk_version, key_id, end = parse_backup_header(args.backup)
    except ValueError as exc:
        raise CryptoFailure(f"not a key backup: {exc}") from exc
    if amk_version != args.source.version or key_id != args.key_id:
        raise CryptoFailure("the backup header does not match the given key id and AMK version")
    try:
        payload = aead.decrypt(
            _backup_key(_open(ctx, args.account_id, args.source)),
            args.backup[end:],
            backup_aad(args.account_id, args.backup[:end]),
        )
    except DecryptionFailed as exc:
        raise CryptoFailure("the backup does not open in this account (other account's, or damaged)") from exc
    try:
        content = json.loads(payload)
        key_type = KeyType(content["key_type"])
        policy = content["policy"]
        entries = [
            WrappedVersion(version=v["version"], amk_version=1, material=b64decode(v["material"]))
            for v in content["versions"]
        ]
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        # Authenticated, so only a bug of ours could produce this: refuse rather than guess.
        raise CryptoFailure("the backup's content is not valid") from exc
    target = _open(ctx, args.account_id, args.target)
    restored: list[RestoredVersion] = []
    for entry in entries:
        keys.validate_material(key_type, entry.material)
        restored.append(
            RestoredVersion(
                version=entry.version,
                wrapped=wrap(
                    target,
                    args.account_id,
                    WrapPurpose.KEY_MATERIAL,
                    material_context(key_id, entry.version),
                    entry.material,
                ),
                public_key=keys.public_key(key_type, entry.material) if key_type.is_asymmetric else None,
            )
        )
    return RestoreResult(key_type=key_type, policy=policy, versions=restored)
