"""Secrets ops: store a sealed value as an envelope-encrypted version, read it sealed to a reader.

The value is plaintext only here, inside the enclave: clients seal it to the transport key
(``identity.py``), ``secrets.encrypt`` opens it, checks the envelope against the request (account,
name, and the version it replaces: a replayed envelope is refused), encrypts it under a fresh data key
(DEK) bound to the version it was sealed for and wraps the DEK under the account master key;
``secrets.read`` unwraps, decrypts and seals the value to the reader's X25519 key. Formats:
``opdefs/secrets.py``. Sealed boxes are libsodium's ``crypto_box_seal``
(https://doc.libsodium.org/public-key_cryptography/sealed_boxes).

:func:`resolve_secrets` is for later in-enclave ops (functions, oracle requests) that run with the
secrets granted to them: it returns plaintext, so it is a Python function, never a wire op.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import nacl.exceptions
import nacl.public
from pydantic import ValidationError

from neo_service_layer.enclave.canonical import b64encode, canonical_json
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import aead
from neo_service_layer.enclave.crypto.errors import DecryptionFailed
from neo_service_layer.enclave.identity import TransportUnsealFailed
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.secrets import (
    ENCRYPT,
    LEGACY_WRITE_FORMAT,
    READ,
    READ_FORMAT,
    VALUE_AAD_LABEL,
    WRITE_FORMAT,
    EncryptArgs,
    EncryptResult,
    ReadArgs,
    ReadResult,
    ResolveArgs,
    StoredVersion,
    WriteEnvelope,
    dek_context,
)
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import CryptoFailure, InvalidArgs, PreconditionFailed, UnsealFailed
from neo_service_layer.enclave.wrapping import WrapPurpose, unwrap, wrap

registry = OpRegistry()


def value_aad(account_id: str, secret_id: str, version: int, allowed_hosts: Sequence[str] = ()) -> bytes:
    """What a version's ciphertext is bound to: account, secret, version and, when the writer named
    any, the hosts its value may be sent to (canonical JSON of the sorted list). Without hosts the form
    is the one versions written before hosts existed have, so they still decrypt."""
    fields = [VALUE_AAD_LABEL, account_id.encode(), secret_id.encode(), str(version).encode()]
    if allowed_hosts:
        fields.append(canonical_json(sorted(allowed_hosts)))
    return b"\x00".join(fields)


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key")
        result[key] = value
    return result


def _refuse_constant(_name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def open_write_envelope(ctx: EnclaveContext, args: EncryptArgs) -> WriteEnvelope:
    """The sealed write envelope, if it was sealed for exactly the write ``args`` asks for.

    CryptoFailure unless it opens and is for this account and name; PreconditionFailed unless it replaces
    the version this write replaces (``args.version - 1``) of this secret. The host cannot choose what an
    envelope becomes: the version it names is bound into the ciphertext (:func:`value_aad`).
    """
    try:
        plaintext = ctx.identity.open_sealed_box(args.sealed_value)
    except TransportUnsealFailed as exc:
        raise CryptoFailure(
            "sealed_value does not open with the enclave's transport key (sealed to another key, or altered)"
        ) from exc
    try:
        document = json.loads(
            plaintext, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
        )
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise CryptoFailure("sealed_value opens but is not JSON") from exc
    if isinstance(document, dict) and document.get("format") == LEGACY_WRITE_FORMAT:
        raise CryptoFailure(
            f"sealed_value is an {LEGACY_WRITE_FORMAT} envelope, which binds no version and so could be "
            f"replayed: seal it again as {WRITE_FORMAT} (client.secrets.seal_secret_value)"
        )
    try:
        envelope = WriteEnvelope.model_validate(document)
    except ValidationError as exc:
        # The detail names no field values: the envelope holds the secret.
        raise CryptoFailure(f"sealed_value opens but is not a valid {WRITE_FORMAT} envelope") from exc
    if envelope.account_id != args.account_id or envelope.name != args.name:
        raise CryptoFailure("sealed_value was sealed for another account or secret name")
    replaces = args.version - 1
    if envelope.cas != replaces:
        raise PreconditionFailed(
            f"sealed_value was sealed to replace version {envelope.cas}, but this write replaces version "
            f"{replaces}"
        )
    if envelope.secret_id is not None and envelope.secret_id != args.secret_id:
        raise PreconditionFailed("sealed_value was sealed for another secret of this name (deleted since)")
    return envelope


def _open_amk(ctx: EnclaveContext, account_id: str, amk: SealedAmk) -> bytes:
    return ctx.open_amk(account_id, amk.version, amk.sealed)


def decrypt_version(ctx: EnclaveContext, account_id: str, stored: StoredVersion) -> bytes:
    """The plaintext of a stored version; UnsealFailed if any part was swapped or altered."""
    amk = _open_amk(ctx, account_id, stored.amk)
    dek = unwrap(
        amk,
        account_id,
        WrapPurpose.SECRET_DEK,
        dek_context(stored.secret_id, stored.version),
        stored.wrapped_dek,
    )
    try:
        aad = value_aad(account_id, stored.secret_id, stored.version, stored.allowed_hosts)
        return aead.decrypt(dek, stored.ciphertext, aad)
    except DecryptionFailed as exc:
        raise UnsealFailed(
            f"secret {stored.secret_id} v{stored.version} does not decrypt under its data key"
        ) from exc


@registry.handler(ENCRYPT)
async def encrypt(ctx: EnclaveContext, args: EncryptArgs) -> EncryptResult:
    """A new version: the sealed value encrypted under a fresh DEK, the DEK wrapped under the AMK."""
    envelope = open_write_envelope(ctx, args)
    hosts = sorted(set(envelope.allowed_hosts))
    amk = _open_amk(ctx, args.account_id, args.amk)
    dek = aead.generate_data_key()
    aad = value_aad(args.account_id, args.secret_id, args.version, hosts)
    ciphertext = aead.encrypt(dek, envelope.value, aad)
    wrapped = wrap(
        amk, args.account_id, WrapPurpose.SECRET_DEK, dek_context(args.secret_id, args.version), dek
    )
    return EncryptResult(
        ciphertext=ciphertext, wrapped_dek=wrapped, amk_version=args.amk.version, allowed_hosts=hosts
    )


@registry.handler(READ)
async def read(ctx: EnclaveContext, args: ReadArgs) -> ReadResult:
    """One version's value, sealed to the reader's X25519 key (signed: the reader can verify it)."""
    stored = StoredVersion(
        secret_id=args.secret_id,
        name=args.name,
        version=args.version,
        ciphertext=args.ciphertext,
        wrapped_dek=args.wrapped_dek,
        amk=args.amk,
        allowed_hosts=args.allowed_hosts,
    )
    value = decrypt_version(ctx, args.account_id, stored)
    envelope = canonical_json(
        {
            "format": READ_FORMAT,
            "account_id": args.account_id,
            "secret_id": args.secret_id,
            "name": args.name,
            "version": args.version,
            "value": b64encode(value),
        }
    )
    try:
        sealed = nacl.public.SealedBox(nacl.public.PublicKey(bytes.fromhex(args.recipient))).encrypt(envelope)
    except nacl.exceptions.CryptoError as exc:  # e.g. a low-order point: no shared secret
        raise CryptoFailure("the recipient key is not a usable X25519 public key") from exc
    return ReadResult(secret_id=args.secret_id, name=args.name, version=args.version, sealed_value=sealed)


def resolve_secrets(ctx: EnclaveContext, args: ResolveArgs | Mapping[str, Any]) -> dict[str, bytes]:
    """The plaintext of each granted secret, by name — inside the enclave only.

    Later ops (functions, oracle requests) take the stored records of the secrets the host found
    granted to them (``services.secrets.grants.granted_records``) and call this to run with the
    values. Raises InvalidArgs for a malformed or duplicate record, UnsealFailed for one that was
    swapped or altered. Never expose its result over the wire.
    """
    try:
        parsed = args if isinstance(args, ResolveArgs) else ResolveArgs.model_validate(dict(args))
    except ValidationError as exc:
        raise InvalidArgs("granted secret records are malformed") from exc
    values: dict[str, bytes] = {}
    for stored in parsed.secrets:
        if stored.name in values:
            raise InvalidArgs(f"secret {stored.name} is given twice")
        values[stored.name] = decrypt_version(ctx, parsed.account_id, stored)
    return values
