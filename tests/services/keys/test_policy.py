"""The key policy without a database: operations per type, version rules (Vault transit), states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.services.keys import policy
from neo_service_layer.services.keys.errors import (
    InvalidKeyPolicy,
    InvalidKeyVersion,
    KeyDisabled,
    KeyOperationNotAllowed,
    KeyOperationUnsupported,
    KeyPendingDeletion,
    KeyVersionBelowMinimum,
)
from neo_service_layer.services.keys.models import Key, KeyState
from neo_service_layer.services.keys.policy import Operation

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def key(
    key_type: KeyType = KeyType.AES256_GCM,
    *,
    latest: int = 3,
    min_dec: int = 1,
    min_enc: int = 0,
    state: KeyState = KeyState.ENABLED,
    allowed: list[Operation] | None = None,
    deletion_date: datetime | None = None,
) -> Key:
    ops = allowed if allowed is not None else policy.supported_operations(key_type)
    return Key(
        id="key_01TEST",
        account_id="acc_1",
        name="k",
        type=key_type,
        state=state,
        latest_version=latest,
        min_decryption_version=min_dec,
        min_encryption_version=min_enc,
        exportable=False,
        allowed_operations=[op.value for op in ops],
        deletion_date=deletion_date,
    )


@pytest.mark.parametrize(
    ("key_type", "expected"),
    [
        (KeyType.SECP256R1, {"sign", "verify", "neo_sign_transaction", "vrf"}),
        (
            KeyType.SECP256K1,
            {"sign", "verify", "evm_sign_transaction", "evm_sign_message", "evm_sign_typed_data"},
        ),
        (KeyType.ED25519, {"sign", "verify", "vrf"}),
        (KeyType.AES256_GCM, {"encrypt", "decrypt", "rewrap", "datakey"}),
        (KeyType.HMAC_SHA256, {"hmac", "hmac_verify"}),
        (KeyType.BLS12381, {"vrf"}),
    ],
    ids=lambda v: v.value if isinstance(v, KeyType) else "",
)
def test_supported_operations_follow_capabilities(key_type: KeyType, expected: set[str]) -> None:
    assert {op.value for op in policy.supported_operations(key_type)} == expected
    assert policy.allowed_operations(key_type, None) == policy.supported_operations(key_type)


def test_allowed_operations_must_be_supported() -> None:
    assert policy.allowed_operations(KeyType.SECP256K1, [Operation.VERIFY, Operation.SIGN]) == [
        Operation.SIGN,
        Operation.VERIFY,
    ]
    with pytest.raises(KeyOperationUnsupported) as raised:
        policy.allowed_operations(KeyType.SECP256K1, [Operation.ENCRYPT])
    assert raised.value.extra["supported"][0] == "sign"


@pytest.mark.parametrize(
    ("k", "op", "error"),
    [
        (key(state=KeyState.DISABLED), Operation.ENCRYPT, KeyDisabled),
        (key(state=KeyState.PENDING_DELETION), Operation.DECRYPT, KeyPendingDeletion),
        (key(), Operation.SIGN, KeyOperationUnsupported),
        (key(allowed=[Operation.ENCRYPT]), Operation.DECRYPT, KeyOperationNotAllowed),
        (key(), Operation.ENCRYPT, None),
    ],
    ids=["disabled", "pending-deletion", "unsupported", "not-allowed", "ok"],
)
def test_check_usable(k: Key, op: Operation, error: type[Exception] | None) -> None:
    if error is None:
        assert policy.check_usable(k, op) is KeyType.AES256_GCM
    else:
        with pytest.raises(error):
            policy.check_usable(k, op)


# Vault transit rules: produce with the latest unless a version >= the minimums is named; consume any
# version from min_decryption_version up to the latest.
VERSION_CASES = [
    (key(), Operation.ENCRYPT, None, 3),
    (key(), Operation.ENCRYPT, 1, 1),
    (key(min_enc=2, min_dec=2), Operation.ENCRYPT, 1, KeyVersionBelowMinimum),
    (key(min_dec=2), Operation.ENCRYPT, 1, KeyVersionBelowMinimum),
    (key(min_enc=3, min_dec=1), Operation.ENCRYPT, 2, KeyVersionBelowMinimum),
    (key(), Operation.ENCRYPT, 4, InvalidKeyVersion),
    (key(), Operation.DECRYPT, 1, 1),
    (key(min_dec=2), Operation.DECRYPT, 1, KeyVersionBelowMinimum),
    (key(min_dec=2), Operation.REWRAP, 2, 2),
    (key(), Operation.DECRYPT, 4, InvalidKeyVersion),
    (key(), Operation.DECRYPT, 0, InvalidKeyVersion),
    (key(), Operation.DECRYPT, None, 3),
]


@pytest.mark.parametrize(
    ("k", "op", "requested", "expected"),
    VERSION_CASES,
    ids=[
        "encrypt-default-latest",
        "encrypt-explicit-old",
        "encrypt-below-min-enc",
        "encrypt-below-min-dec",
        "encrypt-between",
        "encrypt-future",
        "decrypt-v1",
        "decrypt-below-min",
        "rewrap-at-min",
        "decrypt-future",
        "decrypt-zero",
        "decrypt-default",
    ],
)
def test_resolve_version(
    k: Key, op: Operation, requested: int | None, expected: int | type[Exception]
) -> None:
    if isinstance(expected, int):
        assert policy.resolve_version(k, op, requested) == expected
    else:
        with pytest.raises(expected):
            policy.resolve_version(k, op, requested)


@given(
    latest=st.integers(1, 50),
    data=st.data(),
    op=st.sampled_from([Operation.ENCRYPT, Operation.DECRYPT, Operation.SIGN, Operation.VERIFY]),
)
def test_resolved_versions_are_always_usable(latest: int, data: st.DataObject, op: Operation) -> None:
    min_dec = data.draw(st.integers(1, latest))
    min_enc = data.draw(st.sampled_from([0, *range(min_dec, latest + 1)]))
    requested = data.draw(st.none() | st.integers(-2, latest + 2))
    k = key(latest=latest, min_dec=min_dec, min_enc=min_enc)
    try:
        version = policy.resolve_version(k, op, requested)
    except (InvalidKeyVersion, KeyVersionBelowMinimum):
        assert requested is not None
        return
    # Whatever is chosen exists and still decrypts / verifies under the policy.
    assert min_dec <= version <= latest
    if not op.consumes:
        assert version >= min_enc


@pytest.mark.parametrize(
    ("min_dec", "min_enc", "ok"),
    [(1, 0, True), (3, 3, True), (2, 3, True), (0, 0, False), (4, 0, False), (2, 1, False), (1, 4, False)],
    ids=["defaults", "both-latest", "enc-above-dec", "dec-zero", "dec-future", "enc-below-dec", "enc-future"],
)
def test_min_version_rules(min_dec: int, min_enc: int, ok: bool) -> None:
    if ok:
        policy.check_min_versions(key(), min_dec, min_enc)
    else:
        with pytest.raises(InvalidKeyPolicy):
            policy.check_min_versions(key(), min_dec, min_enc)


def test_is_deleted_at_the_deletion_date() -> None:
    assert not policy.is_deleted(key(), NOW)
    pending = KeyState.PENDING_DELETION
    assert not policy.is_deleted(key(deletion_date=NOW + timedelta(seconds=1), state=pending), NOW)
    assert not policy.is_deleted(key(deletion_date=NOW), NOW)  # only a key pending deletion goes
    assert policy.is_deleted(key(deletion_date=NOW, state=KeyState.PENDING_DELETION), NOW)
