"""The op registry and dispatch: validation, error mapping, and signed results (docs/enclave.md §3)."""

from __future__ import annotations

from typing import Any

import pytest

from neo_service_layer.enclave import signing
from neo_service_layer.enclave.canonical import b64encode, request_hash, result_hash
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.handlers import default_registry
from neo_service_layer.enclave.ops import OpRegistry, build_registry, execute
from neo_service_layer.enclave.protocol import CryptoFailure, InternalError, InvalidArgs, KeyUnusable
from neo_service_layer.enclave.schemas import (
    EnclaveModel,
    NoArgs,
    PingResult,
    SealedBytes,
    SignedArgs,
    SignedResult,
)
from tests.enclave import testops


def test_default_registry_serves_the_built_in_ops() -> None:
    assert {"amk_create", "amk.rewrap", "attest", "ping"} <= set(default_registry().names())


def test_registries_compose_and_refuse_duplicates() -> None:
    merged = build_registry(default_registry(), testops.registry)
    assert "ping" in merged
    assert "test.sum" in merged
    assert len(merged) == len(default_registry()) + len(testops.registry)
    with pytest.raises(ValueError, match="registered twice"):
        build_registry(default_registry(), default_registry())


def test_registration_rules() -> None:
    registry = OpRegistry()

    async def handler(ctx: EnclaveContext, args: NoArgs) -> PingResult:
        raise NotImplementedError

    with pytest.raises(ValueError, match="does not match"):
        registry.op("Bad Name", NoArgs, PingResult)(handler)
    with pytest.raises(TypeError, match="must take SignedArgs"):
        registry.op("unsigned_args", NoArgs, PingResult, signed=True)(handler)
    assert registry.op("fine", NoArgs, PingResult)(handler) is handler
    assert registry.names() == ["fine"]


async def _run(ctx: EnclaveContext, op: str, args: dict[str, Any]) -> dict[str, Any]:
    registry = build_registry(default_registry(), testops.registry)
    spec = registry.get(op)
    assert spec is not None
    return await execute(spec, ctx, args)


@pytest.mark.parametrize(
    ("op", "args", "where"),
    [
        pytest.param("ping", {"x": 1}, "x", id="unknown-field"),
        pytest.param("amk_create", {"account_id": "a", "version": "1"}, "version", id="string-for-int"),
        pytest.param("amk_create", {"account_id": "a", "version": 0}, "version", id="version-zero"),
        pytest.param("amk_create", {"account_id": "a:b", "version": 1}, "account_id", id="colon-in-account"),
        pytest.param("amk_create", {"version": 1}, "account_id", id="missing-account"),
        pytest.param("test.sum", {"account_id": "a", "numbers": [1.5]}, "numbers", id="float-for-int"),
        pytest.param("test.sum", {"account_id": "a", "numbers": [], "amk": "%%"}, "amk", id="bad-base64"),
    ],
)
async def test_invalid_args_name_the_field(
    ctx: EnclaveContext, op: str, args: dict[str, Any], where: str
) -> None:
    with pytest.raises(InvalidArgs, match=where):
        await _run(ctx, op, args)


@pytest.mark.parametrize(
    ("how", "error", "code"),
    [
        pytest.param("key_unusable", KeyUnusable, "key_unusable", id="enclave-error"),
        pytest.param("unsupported", KeyUnusable, "key_unusable", id="crypto-unsupported"),
        pytest.param("decrypt", CryptoFailure, "crypto_error", id="crypto-decrypt"),
        pytest.param("material", CryptoFailure, "crypto_error", id="crypto-bad-material"),
        pytest.param("wrong_type", InternalError, "internal", id="wrong-result-type"),
    ],
)
async def test_handler_failures_map_to_protocol_errors(
    ctx: EnclaveContext, how: str, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as caught:
        await _run(ctx, "test.fail", {"how": how})
    assert getattr(caught.value, "code", None) == code


async def test_signed_result_covers_request_and_result(ctx: EnclaveContext) -> None:
    sealed = ctx.new_amk("acc_1", 1)
    args = {"account_id": "acc_1", "numbers": [1, 2, 3], "label": "é", "amk": sealed.hex()}
    with pytest.raises(InvalidArgs):  # hex is not base64
        await _run(ctx, "test.sum", args)
    args["amk"] = b64encode(sealed)
    signed = SignedResult.model_validate(await _run(ctx, "test.sum", args))
    assert signed.result == {"total": 6, "label": "é", "amk_opened": True}
    # params: the public request, without account_id and without the sealed blob.
    expected_request = request_hash("test.sum", "acc_1", {"numbers": [1, 2, 3], "label": "é"})
    assert signed.request_hash == expected_request.hex()
    assert signed.result_hash == result_hash(signed.result).hex()
    preimage = signing.result_preimage(expected_request, bytes.fromhex(signed.result_hash))
    assert signing.p256_verify(ctx.identity.public.p256, preimage, bytes.fromhex(signed.signatures.p256))
    assert signing.k1_recover(preimage, bytes.fromhex(signed.signatures.k1)) == ctx.identity.public.k1


async def test_signed_result_with_a_float_is_an_internal_error(ctx: EnclaveContext) -> None:
    with pytest.raises(InternalError, match="cannot be signed"):
        await _run(ctx, "test.float", {"account_id": "acc_1"})


def test_params_exclude_unsigned_fields() -> None:
    args = testops.SumArgs(account_id="a", numbers=[1], amk=b"sealed")
    assert args.params() == {"numbers": [1], "label": ""}


class _Plain(EnclaveModel):
    value: int


def test_enclave_models_are_strict_and_closed() -> None:
    with pytest.raises(ValueError, match="valid integer"):
        _Plain.model_validate({"value": "1"})
    with pytest.raises(ValueError, match="Extra inputs"):
        _Plain.model_validate({"value": 1, "other": 2})


class _RequiredSealed(SignedArgs):
    key_id: str
    sealed: SealedBytes


def test_required_sealed_fields_are_excluded_too() -> None:
    args = _RequiredSealed(account_id="a", key_id="k", sealed=b"blob")
    assert args.params() == {"key_id": "k"}
