"""The key version cache (``handlers/keys.py`` ``_load_version``): a hit is only ever the very same
account, key, version, type, AMK and wrapped blob; anything else is unwrapped (and checked) again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import keys
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from neo_service_layer.enclave.handlers import keys as key_handlers
from neo_service_layer.enclave.opdefs import keys as keys_ops
from neo_service_layer.enclave.opdefs.amk import REWRAP, RewrapArgs, SealedAmk, WrappedItem
from neo_service_layer.enclave.opdefs.keys import GenerateArgs, GenerateResult, SignArgs, SignResult
from neo_service_layer.enclave.wrapping import WrapPurpose, unwrap
from neo_service_layer.errors import EnclaveRejected

ACCOUNT = "acc_01KEYSACCOUNT"
OTHER = "acc_01OTHERACCOUNT"
KEY = "key_01A"


async def _amk(client: UnixEnclaveClient, account: str = ACCOUNT, version: int = 1) -> SealedAmk:
    created = await client.amk_create(account, version)
    return SealedAmk(version=version, sealed=created.sealed)


async def _generate(
    client: UnixEnclaveClient, amk: SealedAmk, key_type: KeyType = KeyType.SECP256R1, version: int = 1
) -> GenerateResult:
    args = GenerateArgs(account_id=ACCOUNT, key_id=KEY, version=version, key_type=key_type, amk=amk)
    return await client.run(keys_ops.GENERATE, args)


async def _sign(
    client: UnixEnclaveClient,
    amk: SealedAmk,
    wrapped: bytes,
    key_type: KeyType = KeyType.SECP256R1,
    **overrides: Any,
) -> SignResult:
    fields: dict[str, Any] = {
        "account_id": ACCOUNT,
        "key_id": KEY,
        "version": 1,
        "key_type": key_type,
        "amk": amk,
        "material": wrapped,
        "data": b"transfer",
        "hash": key_type.default_hash or HashAlgorithm.NONE,
        "format": SignatureFormat.RAW,
    }
    return (await client.run(keys_ops.SIGN, SignArgs(**(fields | overrides)))).result


@pytest.fixture
def unwraps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The contexts of every key material the handlers unwrap (a cache miss), in order."""
    seen: list[str] = []

    def counting(amk: bytes, account_id: str, purpose: WrapPurpose, context: str, wrapped: bytes) -> bytes:
        seen.append(context)
        return unwrap(amk, account_id, purpose, context, wrapped)

    monkeypatch.setattr(key_handlers, "unwrap", counting)
    return seen


async def test_the_same_version_is_unwrapped_once(
    ctx: EnclaveContext, client: UnixEnclaveClient, unwraps: list[str]
) -> None:
    amk = await _amk(client)
    generated = await _generate(client, amk)
    first = await _sign(client, amk, generated.wrapped)
    second = await _sign(client, amk, generated.wrapped, data=b"another message")
    assert unwraps == ["key_01A:1"]
    assert first.public_key == second.public_key == generated.public_key
    assert len(ctx.key_versions) == 1


def _flip_last_byte(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 1])


# Each changes one input of a cached signature (given the AMK and the wrapped blob): none may be
# answered from the cache, and each is refused by the unwrap it then goes through.
type Change = Callable[[SealedAmk, bytes], dict[str, Any]]
MISSES: list[Any] = [
    pytest.param(lambda amk, blob: {"wrapped": _flip_last_byte(blob)}, id="tampered-wrapped-blob"),
    pytest.param(lambda amk, blob: {"key_id": "key_01B"}, id="other-key"),
    pytest.param(lambda amk, blob: {"version": 2}, id="other-version"),
    pytest.param(lambda amk, blob: {"account_id": OTHER}, id="other-account"),
    pytest.param(lambda amk, blob: {"amk": SealedAmk(version=2, sealed=amk.sealed)}, id="other-amk-version"),
    pytest.param(
        lambda amk, blob: {"amk": SealedAmk(version=1, sealed=_flip_last_byte(amk.sealed))}, id="tampered-amk"
    ),
]


@pytest.mark.parametrize("change", MISSES)
async def test_a_changed_input_is_never_served_from_the_cache(
    ctx: EnclaveContext, client: UnixEnclaveClient, change: Change
) -> None:
    amk = await _amk(client)
    generated = await _generate(client, amk)
    await _sign(client, amk, generated.wrapped)  # cached now
    kwargs: dict[str, Any] = {"amk": amk, "wrapped": generated.wrapped} | change(amk, generated.wrapped)
    with pytest.raises(EnclaveRejected) as raised:
        await _sign(client, **kwargs)
    assert raised.value.enclave_code == "unseal_failed"
    assert len(ctx.key_versions) == 1  # a failure is never cached


async def test_another_amk_of_the_same_account_and_version_is_not_a_hit(
    client: UnixEnclaveClient, unwraps: list[str]
) -> None:
    amk = await _amk(client)
    generated = await _generate(client, amk)
    await _sign(client, amk, generated.wrapped)
    another = await _amk(client)  # same account and version, another key: the blob does not open
    with pytest.raises(EnclaveRejected):
        await _sign(client, another, generated.wrapped)
    assert unwraps == ["key_01A:1", "key_01A:1"]


async def test_new_material_for_the_same_version_is_used_not_the_cached_one(
    client: UnixEnclaveClient,
) -> None:
    """A version destroyed and made again (or restored) arrives as another blob: its own material signs."""
    amk = await _amk(client)
    old = await _generate(client, amk)
    await _sign(client, amk, old.wrapped)
    new = await _generate(client, amk)
    assert (await _sign(client, amk, new.wrapped)).public_key == new.public_key != old.public_key


async def test_a_rotated_amk_loads_the_rewrapped_blob_afresh(
    ctx: EnclaveContext, client: UnixEnclaveClient, unwraps: list[str]
) -> None:
    amk = await _amk(client)
    generated = await _generate(client, amk)
    await _sign(client, amk, generated.wrapped)
    target = await _amk(client, version=2)
    item = WrappedItem(
        purpose=WrapPurpose.KEY_MATERIAL, context="key_01A:1", from_version=1, wrapped=generated.wrapped
    )
    rewrapped = await client.run(
        REWRAP, RewrapArgs(account_id=ACCOUNT, sources=[amk], target=target, items=[item])
    )
    signed = await _sign(client, target, rewrapped.wrapped[0])
    assert signed.public_key == generated.public_key
    assert unwraps == ["key_01A:1", "key_01A:1"]  # the rewrapped blob under AMK v2 was a miss
    assert len(ctx.key_versions) == 2


async def test_another_key_type_is_loaded_as_that_type(client: UnixEnclaveClient) -> None:
    """The type is part of the key: the same blob named ed25519 is never given the P-256 key object."""
    amk = await _amk(client)
    generated = await _generate(client, amk)
    await _sign(client, amk, generated.wrapped)
    as_ed25519 = await _sign(client, amk, generated.wrapped, key_type=KeyType.ED25519)
    assert len(as_ed25519.public_key) == keys.ED25519_PUBLIC_KEY_SIZE


async def test_the_cache_is_bounded_and_cleared(ctx: EnclaveContext, client: UnixEnclaveClient) -> None:
    small = EnclaveContext(
        identity=ctx.identity, sealer=ctx.sealer, backend=ctx.backend, report=ctx.report, key_cache_size=2
    )
    amk = await _amk(client)
    versions = [await _generate(client, amk, version=v) for v in (1, 2, 3)]
    for number, generated in enumerate(versions, start=1):
        args = SignArgs(
            account_id=ACCOUNT,
            key_id=KEY,
            version=number,
            key_type=KeyType.SECP256R1,
            amk=amk,
            material=generated.wrapped,
            data=b"x",
            hash=HashAlgorithm.SHA256,
            format=SignatureFormat.RAW,
        )
        key_handlers.version_key(small, args)
    assert len(small.key_versions) == 2
    small.clear_caches()
    assert len(small.key_versions) == 0
