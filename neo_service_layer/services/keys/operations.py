"""Key operations: each checks the key policy on the host, then runs the op in the enclave.

The host resolves the key (tenant-scoped: another account's key is a 404), checks its state, the
operation against the key type and the policy, picks the version (``policy.resolve_version``), and
hands the enclave the version's wrapped material with the sealed AMK that wraps it. Results are the
enclave's signed envelopes (``Signed``): the API returns them unchanged so that clients can check them
with ``neo_service_layer.client.verify_result``. The request ``params`` the enclave signs are the
op's public arguments: ``key_id``, ``version``, ``key_type`` and the inputs (``docs/keys.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, Integer, Row, Select, and_, bindparam, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import Base, UTCDateTime, utcnow
from neo_service_layer.db.session import TENANT_KEY
from neo_service_layer.enclave.canonical import MAX_SAFE_INTEGER
from neo_service_layer.enclave.client import EnclaveClient, Signed
from neo_service_layer.enclave.crypto.errors import UnsupportedOperation
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.keys import (
    DATAKEY,
    DECRYPT,
    ENCRYPT,
    EVM_SIGN_MESSAGE,
    EVM_SIGN_TX,
    EVM_SIGN_TYPED_DATA,
    HMAC,
    HMAC_VERIFY,
    N3_SIGN_TX,
    REWRAP,
    SIGN,
    VERIFY,
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
    HmacArgs,
    HmacResult,
    HmacVerifyArgs,
    N3SignTxArgs,
    N3SignTxResult,
    PlaintextResult,
    RewrapArgs,
    SignArgs,
    SignResult,
    ValidResult,
    VerifyArgs,
)
from neo_service_layer.errors import EnclaveCryptoFailed, ValidationFailed
from neo_service_layer.services.keys import ciphertext, policy
from neo_service_layer.services.keys.errors import (
    DecryptionFailed,
    InvalidHmac,
    InvalidKeyVersion,
    KeyNotFound,
    KeyOperationUnsupported,
)
from neo_service_layer.services.keys.models import Key, KeyVersion
from neo_service_layer.services.keys.policy import Operation
from neo_service_layer.services.keys.reserved import require_reachable
from neo_service_layer.services.keys.service import not_deleted
from neo_service_layer.services.masterkeys.models import AccountMasterKey

DIGEST_SIZE: Final = 32
# Hashes whose output is the 32-byte ECDSA input as is; a digest made with one is signed unchanged.
_DIGEST_HASHES = (HashAlgorithm.SHA256, HashAlgorithm.KECCAK256, HashAlgorithm.NONE)


@dataclass(frozen=True, slots=True)
class KeyUse:
    """A key version ready for the enclave: the policy row, its type, the version and its AMK."""

    key: Key
    key_type: KeyType
    version: KeyVersion
    amk: AccountMasterKey

    def args(self) -> dict[str, Any]:
        """The common args of the enclave's key-version ops."""
        return {
            "account_id": self.key.account_id,
            "key_id": self.key.id,
            "version": self.version.version,
            "key_type": self.key_type,
            "amk": SealedAmk(version=self.amk.version, sealed=self.amk.sealed),
            "material": self.version.wrapped_material,
        }


async def version_with_amk(
    session: AsyncSession, key: Key, number: int
) -> tuple[KeyVersion, AccountMasterKey]:
    """Key version ``number`` of ``key`` and the AMK version that wraps it (one query)."""
    row = (
        await session.execute(
            select(KeyVersion, AccountMasterKey)
            .join(
                AccountMasterKey,
                and_(
                    AccountMasterKey.account_id == KeyVersion.account_id,
                    AccountMasterKey.version == KeyVersion.amk_version,
                ),
            )
            .where(KeyVersion.key_id == key.id, KeyVersion.version == number)
        )
    ).one_or_none()
    if row is None:
        raise InvalidKeyVersion(f"key {key.id} has no version {number}", version=number)
    return row[0], row[1]


def _fields(model: type[Base]) -> tuple[tuple[str, ColumnElement[Any]], ...]:
    """(attribute, column) of each mapped column of ``model``: what a Core row builds it from."""
    return tuple((attr.key, attr.columns[0]) for attr in inspect(model).column_attrs)


_KEY_FIELDS: Final = _fields(Key)
_VERSION_FIELDS: Final = _fields(KeyVersion)
_AMK_FIELDS: Final = _fields(AccountMasterKey)
_VERSION_START: Final = len(_KEY_FIELDS)
_AMK_START: Final = _VERSION_START + len(_VERSION_FIELDS)


def _use_statement(*, scoped: bool, by_name: bool = False) -> Select[Any]:
    """The key, its version ``:version`` (the latest when NULL) and the AMK that wraps it, in one SELECT.

    The key is ``:key_id``, or ``:name`` when ``by_name`` (names are unique per account, so a name is
    looked up in ``:account_id`` only). Core, not ORM: the session's tenant criteria (``db.session``)
    do not apply, so a ``scoped`` statement filters ``keys.account_id = :account_id`` itself, and the
    joins keep the version and the AMK in the key's account. Outer joins: a missing version is the
    policy's error, not a 404.
    """
    keys, versions, amks = Key.__table__, KeyVersion.__table__, AccountMasterKey.__table__
    number = func.coalesce(bindparam("version", type_=Integer), keys.c.latest_version)
    joined = keys.outerjoin(
        versions,
        and_(
            versions.c.key_id == keys.c.id,
            versions.c.account_id == keys.c.account_id,
            versions.c.version == number,
        ),
    ).outerjoin(
        amks, and_(amks.c.account_id == versions.c.account_id, amks.c.version == versions.c.amk_version)
    )
    columns = [column for _, column in (*_KEY_FIELDS, *_VERSION_FIELDS, *_AMK_FIELDS)]
    match = keys.c.name == bindparam("name") if by_name else keys.c.id == bindparam("key_id")
    statement = (
        select(*columns).select_from(joined).where(match, not_deleted(bindparam("now", type_=UTCDateTime)))
    )
    return statement.where(keys.c.account_id == bindparam("account_id")) if scoped else statement


# Built once: a request only binds its parameters (the compiled form is cached by SQLAlchemy).
_USE_SCOPED: Final = _use_statement(scoped=True)
_USE_UNSCOPED: Final = _use_statement(scoped=False)
_USE_NAMED: Final = _use_statement(scoped=True, by_name=True)


def _transient[M: Base](model: type[M], fields: tuple[tuple[str, Any], ...], values: Sequence[Any]) -> M:
    """A ``model`` object (in no session) from a Core row's ``values`` for ``fields``."""
    return model(**{name: value for (name, _), value in zip(fields, values, strict=True)})


async def _use_row(session: AsyncSession, statement: Select[Any], params: dict[str, Any]) -> Row[Any] | None:
    """The first row of a ``_use_statement`` in the session's transaction (pending changes flushed)."""
    if session.new or session.dirty or session.deleted:
        # The ORM flushes pending changes before its queries (autoflush); a Core statement does not.
        await session.flush()
    connection = await session.connection()
    row: Row[Any] | None = (await connection.execute(statement, {"now": utcnow(), **params})).first()
    return row


def _checked_use(session: AsyncSession, row: Row[Any], op: Operation, requested: int | None) -> KeyUse:
    """The key use a ``_use_statement`` row holds, once the key passes ``op``'s checks."""
    key = _transient(Key, _KEY_FIELDS, row[:_VERSION_START])
    require_reachable(session, key.name, key.id)
    key_type = policy.check_usable(key, op)
    number = policy.resolve_version(key, op, requested)
    version = _transient(KeyVersion, _VERSION_FIELDS, row[_VERSION_START:_AMK_START])
    amk = _transient(AccountMasterKey, _AMK_FIELDS, row[_AMK_START:])
    if version.id is None or amk.id is None:  # the outer joins found no such version (or its AMK)
        raise InvalidKeyVersion(f"key {key.id} has no version {number}", version=number)
    if version.version != number:
        # The statement picks the version itself (requested, else latest), as policy does; if the two
        # ever disagree, refusing beats signing with a version the policy did not choose.
        raise RuntimeError(f"key {key.id}: loaded version {version.version}, policy chose {number}")
    return KeyUse(key, key_type, version, amk)


async def use(session: AsyncSession, key_id: str, op: Operation, requested: int | None) -> KeyUse:
    """Resolve ``key_id`` for ``op``: state, type, policy and version checks (``policy``), then load it.

    The signature path: one Core SELECT (``_use_statement``) in the session's transaction, so the
    request's audit entry still commits with it; the objects it returns are in no session (read them,
    do not change them). The checks and their order are ``service.get_key``'s and ``policy``'s.
    """
    tenant = session.info.get(TENANT_KEY)
    statement = _USE_UNSCOPED if tenant is None else _USE_SCOPED
    params = {"key_id": key_id, "version": requested, "account_id": tenant}
    row = await _use_row(session, statement, params)
    if row is None:
        raise KeyNotFound(f"no key {key_id}", key_id=key_id)
    return _checked_use(session, row, op, requested)


async def use_named(session: AsyncSession, account_id: str, name: str, op: Operation) -> KeyUse | None:
    """:func:`use` of the latest version of ``account_id``'s key named ``name``; None if it has none.

    One Core SELECT, as :func:`use` (the randomness service's default key: no lookup of its id first).
    The statement filters ``account_id`` itself; a tenant session sees only its own account's keys,
    as its ORM queries do.
    """
    tenant = session.info.get(TENANT_KEY)
    if tenant is not None and tenant != account_id:
        return None
    row = await _use_row(session, _USE_NAMED, {"name": name, "version": None, "account_id": account_id})
    return None if row is None else _checked_use(session, row, op, None)


def signature_params(
    key_type: KeyType, hash_alg: HashAlgorithm | None, fmt: SignatureFormat | None, *, prehashed: bool
) -> tuple[HashAlgorithm, SignatureFormat]:
    """The hash the enclave applies and the format; 422 for combinations the key type cannot do.

    A caller's ``digest`` is signed as is (hash ``none``): it must come from a 32-byte hash (SHA-256,
    Keccak-256) — the ECDSA input of the 256-bit curves — and ed25519 (PureEdDSA, RFC 8032) signs
    messages only.
    """
    chosen_hash = hash_alg or key_type.default_hash or HashAlgorithm.NONE
    chosen_format = fmt or SignatureFormat.RAW
    if prehashed:
        if key_type is KeyType.ED25519:
            raise KeyOperationUnsupported("ed25519 signs messages, not digests (PureEdDSA, RFC 8032)")
        if chosen_hash not in _DIGEST_HASHES:
            raise KeyOperationUnsupported(
                f"a digest must be {DIGEST_SIZE} bytes from sha256 or keccak256; "
                f"{chosen_hash.value} digests are not accepted"
            )
        chosen_hash = HashAlgorithm.NONE
    try:
        key_type.check_signature_params(chosen_hash, chosen_format)
    except UnsupportedOperation as exc:
        raise KeyOperationUnsupported(exc.detail) from exc
    return chosen_hash, chosen_format


def _check_digest(data: bytes, prehashed: bool) -> None:
    if prehashed and len(data) != DIGEST_SIZE:
        raise ValidationFailed(f"digest must be {DIGEST_SIZE} bytes, got {len(data)}", parameter="digest")


async def sign(
    session: AsyncSession,
    enclave: EnclaveClient,
    key_id: str,
    *,
    data: bytes,
    prehashed: bool,
    hash_alg: HashAlgorithm | None,
    fmt: SignatureFormat | None,
    version: int | None,
) -> Signed[SignResult]:
    """Sign a message (hashed with ``hash_alg``) or a 32-byte digest (``prehashed``)."""
    key_use = await use(session, key_id, Operation.SIGN, version)
    chosen_hash, chosen_format = signature_params(key_use.key_type, hash_alg, fmt, prehashed=prehashed)
    _check_digest(data, prehashed)
    args = SignArgs(**key_use.args(), data=data, hash=chosen_hash, format=chosen_format)
    return await enclave.run(SIGN, args)


async def verify(
    session: AsyncSession,
    enclave: EnclaveClient,
    key_id: str,
    *,
    data: bytes,
    prehashed: bool,
    signature: bytes,
    hash_alg: HashAlgorithm | None,
    fmt: SignatureFormat | None,
    version: int | None,
) -> Signed[ValidResult]:
    """Whether ``signature`` is the key version's over the message or digest."""
    key_use = await use(session, key_id, Operation.VERIFY, version)
    chosen_hash, chosen_format = signature_params(key_use.key_type, hash_alg, fmt, prehashed=prehashed)
    _check_digest(data, prehashed)
    args = VerifyArgs(
        **key_use.args(), data=data, hash=chosen_hash, format=chosen_format, signature=signature
    )
    return await enclave.run(VERIFY, args)


async def encrypt(
    session: AsyncSession,
    enclave: EnclaveClient,
    key_id: str,
    *,
    plaintext: bytes,
    context: bytes,
    version: int | None,
) -> Signed[CiphertextResult]:
    key_use = await use(session, key_id, Operation.ENCRYPT, version)
    args = EncryptArgs(**key_use.args(), plaintext=plaintext, context=context)
    return await enclave.run(ENCRYPT, args)


async def decrypt(
    session: AsyncSession, enclave: EnclaveClient, key_id: str, *, text: str, context: bytes
) -> Signed[PlaintextResult]:
    """Decrypt an ``nsl:v<n>:…`` ciphertext; DecryptionFailed for another key's, context or tampering."""
    number, blob = ciphertext.decode(text)
    key_use = await use(session, key_id, Operation.DECRYPT, number)
    args = DecryptArgs(**key_use.args(), ciphertext=blob, context=context)
    try:
        return await enclave.run(DECRYPT, args)
    except EnclaveCryptoFailed as exc:
        raise DecryptionFailed("the ciphertext does not decrypt under this key and context") from exc


async def rewrap(
    session: AsyncSession, enclave: EnclaveClient, key_id: str, *, text: str, context: bytes
) -> Signed[CiphertextResult]:
    """Move a ciphertext to the latest version without the plaintext leaving the enclave."""
    number, blob = ciphertext.decode(text)
    source = await use(session, key_id, Operation.REWRAP, number)
    target, target_amk = await version_with_amk(session, source.key, source.key.latest_version)
    args = RewrapArgs(
        **source.args(),
        ciphertext=blob,
        context=context,
        target_version=target.version,
        target_amk=SealedAmk(version=target_amk.version, sealed=target_amk.sealed),
        target_material=target.wrapped_material,
    )
    try:
        return await enclave.run(REWRAP, args)
    except EnclaveCryptoFailed as exc:
        raise DecryptionFailed("the ciphertext does not decrypt under this key and context") from exc


async def datakey(
    session: AsyncSession,
    enclave: EnclaveClient,
    key_id: str,
    *,
    context: bytes,
    include_plaintext: bool,
    version: int | None,
) -> Signed[DataKeyResult]:
    key_use = await use(session, key_id, Operation.DATAKEY, version)
    args = DataKeyArgs(**key_use.args(), context=context, include_plaintext=include_plaintext)
    return await enclave.run(DATAKEY, args)


async def hmac(
    session: AsyncSession, enclave: EnclaveClient, key_id: str, *, data: bytes, version: int | None
) -> Signed[HmacResult]:
    key_use = await use(session, key_id, Operation.HMAC, version)
    return await enclave.run(HMAC, HmacArgs(**key_use.args(), data=data))


async def hmac_verify(
    session: AsyncSession, enclave: EnclaveClient, key_id: str, *, data: bytes, text: str
) -> Signed[ValidResult]:
    number, tag = ciphertext.decode(text, InvalidHmac)
    key_use = await use(session, key_id, Operation.HMAC_VERIFY, number)
    args = HmacVerifyArgs(**key_use.args(), data=data, mac=tag)
    return await enclave.run(HMAC_VERIFY, args)


async def n3_sign_transaction(
    session: AsyncSession,
    enclave: EnclaveClient,
    key_id: str,
    *,
    transaction: bytes,
    network_magic: int,
    version: int | None,
) -> Signed[N3SignTxResult]:
    key_use = await use(session, key_id, Operation.NEO_SIGN_TRANSACTION, version)
    args = N3SignTxArgs(**key_use.args(), transaction=transaction, network_magic=network_magic)
    return await enclave.run(N3_SIGN_TX, args)


def check_canonical(value: Any, field: str) -> None:
    """Refuse what canonical JSON cannot sign: floats and integers beyond ±(2^53 - 1) (send 0x-hex)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValidationFailed(
                f"{field}: integers beyond ±(2^53 - 1) must be sent as 0x-hex strings", parameter=field
            )
        return
    if isinstance(value, float):
        raise ValidationFailed(f"{field}: numbers must be integers", parameter=field)
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_canonical(item, f"{field}.{key}")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_canonical(item, f"{field}[{index}]")
        return
    raise ValidationFailed(f"{field}: unsupported JSON value", parameter=field)  # pragma: no cover


async def evm_sign_transaction(
    session: AsyncSession,
    enclave: EnclaveClient,
    key_id: str,
    *,
    transaction: dict[str, Any],
    version: int | None,
) -> Signed[EvmSignTxResult]:
    check_canonical(transaction, "transaction")
    key_use = await use(session, key_id, Operation.EVM_SIGN_TRANSACTION, version)
    return await sign_evm_tx(enclave, key_use, transaction)


async def sign_evm_tx(
    enclave: EnclaveClient, key_use: KeyUse, transaction: dict[str, Any]
) -> Signed[EvmSignTxResult]:
    """``transaction`` signed in the enclave with ``key_use`` (the API's route and the platform's own
    transactions: fulfilments, audit anchors)."""
    args = EvmSignTxArgs(**key_use.args(), transaction=transaction)
    return await enclave.run(EVM_SIGN_TX, args)


async def evm_sign_message(
    session: AsyncSession, enclave: EnclaveClient, key_id: str, *, message: bytes, version: int | None
) -> Signed[EvmSignatureResult]:
    key_use = await use(session, key_id, Operation.EVM_SIGN_MESSAGE, version)
    args = EvmSignMessageArgs(**key_use.args(), message=message)
    return await enclave.run(EVM_SIGN_MESSAGE, args)


async def evm_sign_typed_data(
    session: AsyncSession,
    enclave: EnclaveClient,
    key_id: str,
    *,
    typed_data: dict[str, Any],
    version: int | None,
) -> Signed[EvmSignatureResult]:
    check_canonical(typed_data, "typed_data")
    key_use = await use(session, key_id, Operation.EVM_SIGN_TYPED_DATA, version)
    args = EvmSignTypedDataArgs(**key_use.args(), typed_data=typed_data)
    return await enclave.run(EVM_SIGN_TYPED_DATA, args)
