"""Secrets ops in the enclave: sealed writes, reads sealed to a recipient, in-enclave resolution.

Real crypto throughout (libsodium sealed boxes, AES-256-GCM, the AMK sealer); ops run through
``ops.execute`` so that their schemas, error mapping and result signatures are the real ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import nacl.public
import pytest

from neo_service_layer.client.attestation import verify_attestation, verify_result
from neo_service_layer.client.secrets import RecipientKey, open_secret_envelope, seal_secret_value
from neo_service_layer.enclave.canonical import b64decode, b64encode, canonical_json
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.handlers import default_registry
from neo_service_layer.enclave.handlers.secrets import resolve_secrets, value_aad
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.opdefs.secrets import MAX_SECRET_BYTES, StoredVersion, dek_context
from neo_service_layer.enclave.ops import execute
from neo_service_layer.enclave.protocol import (
    CryptoFailure,
    EnclaveError,
    InvalidArgs,
    PreconditionFailed,
    UnsealFailed,
)
from neo_service_layer.enclave.wrapping import WrapPurpose, unwrap
from neo_service_layer.errors import SecretSealingFailed

ACCOUNT = "acc_01TESTACCOUNT"
OTHER_ACCOUNT = "acc_01OTHERACCOUNT"
SECRET_ID = "sec_01SECRET"
NAME = "db-password"
VALUE = b"correct horse battery staple \x00\xff"


def seal(
    key: bytes,
    value: bytes = VALUE,
    *,
    account: str = ACCOUNT,
    name: str = NAME,
    cas: int = 0,
    secret_id: str | None = None,
) -> str:
    """A sealed write of ``value`` replacing version ``cas`` (of ``SECRET_ID`` when cas > 0)."""
    if cas > 0 and secret_id is None:
        secret_id = SECRET_ID
    return seal_secret_value(key, account, name, value, cas=cas, secret_id=secret_id)


async def run(ctx: EnclaveContext, op: str, args: dict[str, Any]) -> dict[str, Any]:
    spec = default_registry().get(op)
    assert spec is not None
    return await execute(spec, ctx, args)


def amk(ctx: EnclaveContext, version: int = 1, account: str = ACCOUNT) -> dict[str, Any]:
    return {"version": version, "sealed": b64encode(ctx.new_amk(account, version))}


async def encrypt(
    ctx: EnclaveContext,
    sealed: str,
    *,
    version: int = 1,
    name: str = NAME,
    amk_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return await run(
        ctx,
        "secrets.encrypt",
        {
            "account_id": ACCOUNT,
            "secret_id": SECRET_ID,
            "name": name,
            "version": version,
            "amk": amk_args or amk(ctx),
            "sealed_value": sealed,
        },
    )


def read_args(
    stored: dict[str, Any], amk_args: dict[str, Any], recipient: str, version: int = 1
) -> dict[str, Any]:
    return {
        "account_id": ACCOUNT,
        "secret_id": SECRET_ID,
        "name": NAME,
        "version": version,
        "recipient": recipient,
        "amk": amk_args,
        "ciphertext": stored["ciphertext"],
        "wrapped_dek": stored["wrapped_dek"],
    }


async def test_write_then_read_round_trips_sealed_to_the_recipient(ctx: EnclaveContext) -> None:
    amk_args = amk(ctx)
    sealed = seal(ctx.identity.public.x25519)
    stored = await encrypt(ctx, sealed, amk_args=amk_args)
    assert stored["amk_version"] == 1
    reader = RecipientKey.generate()
    signed = await run(ctx, "secrets.read", read_args(stored, amk_args, reader.public_hex))
    envelope = open_secret_envelope(reader, signed["result"]["sealed_value"])
    assert (envelope.value, envelope.account_id, envelope.secret_id, envelope.name, envelope.version) == (
        VALUE,
        ACCOUNT,
        SECRET_ID,
        NAME,
        1,
    )
    # The result is signed over exactly this request, recipient included (docs/enclave.md §3).
    identity = verify_attestation(ctx.report, allow_software=True)
    params = {"secret_id": SECRET_ID, "name": NAME, "version": 1, "recipient": reader.public_hex}
    request = {"op": "secrets.read", "account_id": ACCOUNT, "params": params}
    assert verify_result(signed, identity, request=request)["version"] == 1


async def test_stored_value_is_ciphertext_under_a_fresh_data_key_wrapped_by_the_amk(
    ctx: EnclaveContext,
) -> None:
    amk_args = amk(ctx)
    sealed = seal(ctx.identity.public.x25519)
    first = await encrypt(ctx, sealed, amk_args=amk_args)
    second = await encrypt(ctx, sealed, amk_args=amk_args)
    key = ctx.open_amk(ACCOUNT, 1, b64decode(amk_args["sealed"]))
    deks = [
        unwrap(key, ACCOUNT, WrapPurpose.SECRET_DEK, dek_context(SECRET_ID, 1), b64decode(s["wrapped_dek"]))
        for s in (first, second)
    ]
    assert deks[0] != deks[1]  # one data key per version write
    assert len(deks[0]) == 32
    for stored in (first, second):
        assert VALUE not in b64decode(stored["ciphertext"])
    assert (
        value_aad(ACCOUNT, SECRET_ID, 1) == b"nsl-secret-value-v1\x00acc_01TESTACCOUNT\x00sec_01SECRET\x001"
    )


def _box(ctx: EnclaveContext, document: bytes) -> str:
    return b64encode(
        nacl.public.SealedBox(nacl.public.PublicKey(ctx.identity.public.x25519)).encrypt(document)
    )


def _envelope(**changes: Any) -> dict[str, Any]:
    return {
        "format": "nsl-secret-write-v2",
        "account_id": ACCOUNT,
        "name": NAME,
        "cas": 0,
        "secret_id": None,
        "value": b64encode(VALUE),
        **changes,
    }


def _tampered(sealed: str) -> str:
    raw = bytearray(b64decode(sealed))
    raw[40] ^= 1  # inside the ciphertext, past the 32-byte ephemeral key
    return b64encode(bytes(raw))


BAD_SEALED: list[Any] = [
    pytest.param(
        lambda ctx: seal(ctx.identity.public.x25519, account=OTHER_ACCOUNT),
        "another account",
        id="other-account",
    ),
    pytest.param(
        lambda ctx: seal(ctx.identity.public.x25519, name="other-name"),
        "another account or secret name",
        id="other-name",
    ),
    pytest.param(
        lambda ctx: seal(Identity.generate().public.x25519),
        "does not open",
        id="other-enclave-key",
    ),
    pytest.param(
        lambda ctx: _tampered(seal(ctx.identity.public.x25519)),
        "does not open",
        id="tampered-box",
    ),
    pytest.param(lambda ctx: b64encode(b"\x01" * 47), "does not open", id="truncated-box"),
    pytest.param(lambda ctx: _box(ctx, b"not json"), "not JSON", id="not-json"),
    pytest.param(
        lambda ctx: _box(ctx, b'{"format":"nsl-secret-write-v2","format":"x"}'),
        "not JSON",
        id="duplicate-key",
    ),
    pytest.param(lambda ctx: _box(ctx, b"[" * 50_000), "not JSON", id="nested-too-deeply"),
    pytest.param(
        lambda ctx: _box(
            ctx,
            canonical_json(
                {"format": "nsl-secret-write-v1", "account_id": ACCOUNT, "name": NAME, "value": "eA=="}
            ),
        ),
        "nsl-secret-write-v1 envelope, which binds no version",
        id="v1-envelope-no-version",
    ),
    pytest.param(lambda ctx: _box(ctx, canonical_json(_envelope(cas=None))), "not a valid", id="cas-null"),
    pytest.param(
        lambda ctx: _box(ctx, canonical_json({k: v for k, v in _envelope().items() if k != "cas"})),
        "not a valid",
        id="cas-absent",
    ),
    pytest.param(lambda ctx: _box(ctx, canonical_json(_envelope(cas="0"))), "not a valid", id="cas-string"),
    pytest.param(
        lambda ctx: _box(ctx, canonical_json(_envelope(secret_id=SECRET_ID))),
        "not a valid",
        id="creation-naming-a-secret-id",
    ),
    pytest.param(
        lambda ctx: _box(ctx, canonical_json({k: v for k, v in _envelope().items() if k != "secret_id"})),
        "not a valid",
        id="secret-id-absent",
    ),
    pytest.param(
        lambda ctx: _box(ctx, canonical_json(_envelope(format="nsl-secret-read-v1"))),
        "not a valid",
        id="read-format",
    ),
    pytest.param(
        lambda ctx: _box(ctx, canonical_json(_envelope(value="not base64!"))),
        "not a valid",
        id="value-not-base64",
    ),
    pytest.param(lambda ctx: _box(ctx, canonical_json(_envelope(extra=1))), "not a valid", id="extra-field"),
    pytest.param(
        lambda ctx: _box(ctx, canonical_json(_envelope(value=b64encode(b"x" * (MAX_SECRET_BYTES + 1))))),
        "not a valid",
        id="value-too-large",
    ),
]


@pytest.mark.parametrize(("make", "message"), BAD_SEALED)
async def test_bad_sealed_values_are_refused_without_echoing_them(
    ctx: EnclaveContext, make: Callable[[EnclaveContext], str], message: str
) -> None:
    with pytest.raises(CryptoFailure, match=message) as raised:
        await encrypt(ctx, make(ctx))
    assert "correct horse" not in raised.value.detail


# A sealed write names the version it replaces (cas) and, for an update, the secret (secret_id); the
# host says which write it performs (secret_id, version). Every mismatch is a replay or a stale value.
# (envelope cas, envelope secret_id, host's secret_id, host's version)
STALE_WRITES: list[Any] = [
    pytest.param(1, SECRET_ID, SECRET_ID, 5, id="replay-of-v2-onto-v4"),
    pytest.param(4, SECRET_ID, SECRET_ID, 2, id="sealed-for-v5-written-as-v2"),
    pytest.param(0, None, SECRET_ID, 3, id="replay-of-a-creation-onto-v2"),
    pytest.param(2, SECRET_ID, SECRET_ID, 1, id="update-written-as-a-creation"),
    pytest.param(2, SECRET_ID, "sec_01RECREATED", 3, id="replay-into-a-recreated-secret"),
]


@pytest.mark.parametrize(("cas", "sealed_for", "secret_id", "version"), STALE_WRITES)
async def test_a_sealed_write_is_refused_for_any_other_version_or_secret(
    ctx: EnclaveContext, cas: int, sealed_for: str | None, secret_id: str, version: int
) -> None:
    sealed = seal(ctx.identity.public.x25519, cas=cas, secret_id=sealed_for)
    args = {
        "account_id": ACCOUNT,
        "secret_id": secret_id,
        "name": NAME,
        "version": version,
        "amk": amk(ctx),
        "sealed_value": sealed,
    }
    with pytest.raises(PreconditionFailed, match="sealed") as raised:
        await run(ctx, "secrets.encrypt", args)
    assert "correct horse" not in raised.value.detail
    # The same envelope is taken for exactly the write it names.
    stored = await run(
        ctx, "secrets.encrypt", {**args, "secret_id": sealed_for or secret_id, "version": cas + 1}
    )
    assert set(stored) == {"ciphertext", "wrapped_dek", "amk_version", "allowed_hosts"}


async def test_a_replay_the_host_forces_through_stays_its_own_version(ctx: EnclaveContext) -> None:
    """The host (API or database compromised) can claim the secret is still at version 1 and so get a
    captured v2 envelope encrypted again, but only as version 2: presented as any later version, or
    as the current one of another secret, it does not decrypt. An old value never becomes a new
    version; a reader who knows the current version sees the rollback in the signed read."""
    amk_args = amk(ctx)
    captured = seal(ctx.identity.public.x25519, b"old-v2", cas=1)
    forced = await encrypt(ctx, captured, version=2, amk_args=amk_args)
    reader = RecipientKey.generate()
    for version in (3, 7):
        with pytest.raises(UnsealFailed):
            await run(ctx, "secrets.read", read_args(forced, amk_args, reader.public_hex, version=version))
    signed = await run(ctx, "secrets.read", read_args(forced, amk_args, reader.public_hex, version=2))
    assert open_secret_envelope(reader, signed["result"]["sealed_value"]).version == 2


async def test_stored_rows_swapped_by_the_host_do_not_open(ctx: EnclaveContext) -> None:
    amk_args = amk(ctx)
    v1 = await encrypt(ctx, seal(ctx.identity.public.x25519, b"one"), amk_args=amk_args)
    v2 = await encrypt(ctx, seal(ctx.identity.public.x25519, b"two", cas=1), version=2, amk_args=amk_args)
    reader = RecipientKey.generate().public_hex
    swapped = {**v2, "wrapped_dek": v1["wrapped_dek"]}
    cases = [
        read_args(v1, amk_args, reader, version=2),  # v1's row presented as v2
        read_args(swapped, amk_args, reader, version=2),  # v2's ciphertext with v1's data key
        {**read_args(v1, amk_args, reader), "account_id": OTHER_ACCOUNT},  # another account
    ]
    for args in cases:
        with pytest.raises(UnsealFailed):
            await run(ctx, "secrets.read", args)


@pytest.mark.parametrize(
    ("recipient", "error"),
    [
        pytest.param("00" * 32, CryptoFailure, id="low-order-zero-point"),
        pytest.param("01" + "00" * 31, CryptoFailure, id="low-order-point-one"),
        pytest.param("AB" * 32, InvalidArgs, id="uppercase-hex"),
        pytest.param("ab" * 31, InvalidArgs, id="short"),
    ],
)
async def test_unusable_recipient_keys_are_refused(
    ctx: EnclaveContext, recipient: str, error: type[EnclaveError]
) -> None:
    amk_args = amk(ctx)
    stored = await encrypt(ctx, seal(ctx.identity.public.x25519), amk_args=amk_args)
    with pytest.raises(error):
        await run(ctx, "secrets.read", read_args(stored, amk_args, recipient))


async def test_resolve_secrets_returns_plaintext_inside_the_enclave_only(ctx: EnclaveContext) -> None:
    amk_args = amk(ctx)
    stored = await encrypt(ctx, seal(ctx.identity.public.x25519), amk_args=amk_args)
    record = {
        "secret_id": SECRET_ID,
        "name": NAME,
        "version": 1,
        "amk": amk_args,
        **{k: stored[k] for k in ("ciphertext", "wrapped_dek")},
    }
    assert resolve_secrets(ctx, {"account_id": ACCOUNT, "secrets": [record]}) == {NAME: VALUE}
    assert StoredVersion.model_validate(record).name == NAME
    with pytest.raises(InvalidArgs, match="twice"):
        resolve_secrets(ctx, {"account_id": ACCOUNT, "secrets": [record, record]})
    with pytest.raises(InvalidArgs, match="malformed"):
        resolve_secrets(ctx, {"account_id": ACCOUNT, "secrets": [{**record, "version": 0}]})
    with pytest.raises(UnsealFailed):
        resolve_secrets(ctx, {"account_id": ACCOUNT, "secrets": [{**record, "secret_id": "sec_01OTHER"}]})
    # Not a wire op: nothing serves plaintext over the protocol.
    assert not any("resolve" in name for name in default_registry().names())


def test_transport_key_is_derived_from_the_identity_and_stable() -> None:
    identity = Identity.generate()
    again = Identity.from_secrets(*identity.secrets())
    assert again.public.x25519 == identity.public.x25519
    assert len(identity.public.x25519) == 32
    assert identity.public.x25519 != Identity.generate().public.x25519
    assert (
        identity.open_sealed_box(
            nacl.public.SealedBox(nacl.public.PublicKey(again.public.x25519)).encrypt(b"hi")
        )
        == b"hi"
    )
    assert repr(identity).endswith("private=**********)")


def test_report_publishes_and_binds_the_transport_key(ctx: EnclaveContext) -> None:
    report = ctx.report.model_dump(mode="json")
    assert report["identity"]["x25519"] == ctx.identity.public.x25519.hex()
    assert verify_attestation(report, allow_software=True).x25519 == ctx.identity.public.x25519
    json.dumps(report)  # plain JSON


# --- allowed hosts: the hosts a value may be sent to, sealed by the writer and bound into the ciphertext


def stored_version(stored: dict[str, Any], amk_args: dict[str, Any], hosts: list[str]) -> StoredVersion:
    return StoredVersion.model_validate(
        {
            "secret_id": SECRET_ID,
            "name": NAME,
            "version": 1,
            "ciphertext": stored["ciphertext"],
            "wrapped_dek": stored["wrapped_dek"],
            "amk": amk_args,
            "allowed_hosts": hosts,
        },
        strict=False,
    )


async def test_allowed_hosts_are_sealed_with_the_value_and_returned_sorted(ctx: EnclaveContext) -> None:
    amk_args = amk(ctx)
    sealed = seal_secret_value(
        ctx.identity.public.x25519, ACCOUNT, NAME, VALUE, cas=0, allowed_hosts=["B.example", "a.example"]
    )
    stored = await encrypt(ctx, sealed, amk_args=amk_args)
    assert stored["allowed_hosts"] == ["a.example", "b.example"]
    resolved = resolve_secrets(
        ctx, {"account_id": ACCOUNT, "secrets": [stored_version(stored, amk_args, stored["allowed_hosts"])]}
    )
    assert resolved == {NAME: VALUE}


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param(["a.example", "attacker.example"], id="widened"),
        pytest.param(["attacker.example"], id="swapped"),
        pytest.param([], id="dropped"),
    ],
)
async def test_a_host_that_presents_other_hosts_gets_no_plaintext(
    ctx: EnclaveContext, presented: list[str]
) -> None:
    # Someone with the database (or a compromised API) rewrites the stored hosts to send the value
    # elsewhere: the ciphertext is bound to the hosts the writer sealed, so it no longer decrypts.
    amk_args = amk(ctx)
    sealed = seal_secret_value(
        ctx.identity.public.x25519, ACCOUNT, NAME, VALUE, cas=0, allowed_hosts=["a.example"]
    )
    stored = await encrypt(ctx, sealed, amk_args=amk_args)
    with pytest.raises(UnsealFailed):
        resolve_secrets(
            ctx, {"account_id": ACCOUNT, "secrets": [stored_version(stored, amk_args, presented)]}
        )


async def test_a_version_without_hosts_keeps_the_original_binding(ctx: EnclaveContext) -> None:
    # Versions written before allowed hosts existed carry the first AAD form and still decrypt.
    assert value_aad(ACCOUNT, SECRET_ID, 1, ()) == value_aad(ACCOUNT, SECRET_ID, 1)
    assert value_aad(ACCOUNT, SECRET_ID, 1, ["b", "a"]) == value_aad(ACCOUNT, SECRET_ID, 1) + b'\x00["a","b"]'


@pytest.mark.parametrize(
    "hosts",
    [
        pytest.param(["Bad_Host"], id="not-a-host-name"),
        pytest.param([f"h{i}.example" for i in range(17)], id="too-many"),
        pytest.param(["https://a.example"], id="a-url"),
    ],
)
def test_allowed_hosts_the_enclave_would_refuse_are_refused_when_sealing(hosts: list[str]) -> None:
    with pytest.raises(SecretSealingFailed, match="allowed_hosts"):
        seal_secret_value(Identity.generate().public.x25519, ACCOUNT, NAME, VALUE, cas=0, allowed_hosts=hosts)
