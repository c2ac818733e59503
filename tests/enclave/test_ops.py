"""The op registry and dispatch: validation, error mapping, and signed results (docs/enclave.md §3)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from neo_service_layer.enclave import signing
from neo_service_layer.enclave.canonical import b64encode, request_hash, result_hash
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.handlers import default_registry, handler_registries
from neo_service_layer.enclave.opdefs import catalogue
from neo_service_layer.enclave.opdefs.base import Op, SignedOp
from neo_service_layer.enclave.opdefs.builtin import PING
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


def test_the_enclave_serves_exactly_the_declared_ops() -> None:
    declared = catalogue()
    names = [decl.name for decl in declared]
    assert len(names) == len(set(names))
    assert {"amk_create", "amk.rewrap", "attest", "ping", "keys.sign", "randomness.prove"} <= set(names)
    registry = default_registry()
    assert registry.names() == sorted(names)
    specs = {spec.name: spec for spec in registry}
    assert all(specs[decl.name].decl is decl for decl in declared)
    assert specs["keys.sign"].signed
    assert not specs["keys.generate"].signed


def test_registries_compose() -> None:
    merged = testops.full_registry()
    assert "ping" in merged
    assert "test.sum" in merged
    assert len(merged) == len(default_registry()) + len(testops.registry)


def test_a_declared_op_without_a_handler_fails_the_build() -> None:
    _builtin, *others = handler_registries()
    with pytest.raises(ValueError, match=r"declared ops without a handler: amk_create, attest, ping$"):
        build_registry(catalogue(), *others)
    with pytest.raises(ValueError, match=re.escape("without a handler: test.amk_fingerprint")):
        build_registry([*catalogue(), testops.AMK_FINGERPRINT], *handler_registries())


def test_a_handler_without_a_declaration_fails_the_build() -> None:
    with pytest.raises(
        ValueError, match=re.escape("handlers of undeclared ops: test.amk_fingerprint, test.big")
    ):
        build_registry(catalogue(), *handler_registries(), testops.registry)
    # A handler registered against a lookalike of a declaration (same name, another object) is not it.
    lookalike = OpRegistry()
    lookalike.handler(Op("ping", NoArgs, PingResult))(_ping)
    _builtin, *others = handler_registries()
    with pytest.raises(ValueError, match=r"handlers of undeclared ops: ping$"):
        build_registry(catalogue(), lookalike, _builtin_without_ping(), *others)


def test_an_op_with_two_handlers_fails_at_import_or_build() -> None:
    registry = OpRegistry()
    registry.handler(PING)(_ping)
    with pytest.raises(ValueError, match="'ping' has two handlers"):
        registry.handler(PING)(_ping)
    with pytest.raises(ValueError, match="'ping' has two handlers"):
        build_registry(catalogue(), *handler_registries(), registry)


async def _run(ctx: EnclaveContext, op: str, args: dict[str, Any]) -> dict[str, Any]:
    spec = testops.full_registry().get(op)
    assert spec is not None
    return await execute(spec, ctx, args)


def test_an_op_declared_twice_fails_the_build() -> None:
    with pytest.raises(ValueError, match="'ping' is declared twice"):
        build_registry([*catalogue(), Op("ping", NoArgs, PingResult)], *handler_registries())


def _builtin_without_ping() -> OpRegistry:
    registry = OpRegistry()
    for spec in handler_registries()[0]:
        if spec.name != "ping":
            registry.add(spec)
    return registry


async def _ping(ctx: EnclaveContext, args: NoArgs) -> PingResult:
    raise NotImplementedError


async def _takes_sum_args(ctx: EnclaveContext, args: testops.SumArgs) -> PingResult:
    raise NotImplementedError


async def _takes_any_model(ctx: EnclaveContext, args: EnclaveModel) -> PingResult:
    raise NotImplementedError


async def _returns_sum_result(ctx: EnclaveContext, args: NoArgs) -> testops.SumResult:
    raise NotImplementedError


def _not_async(ctx: EnclaveContext, args: NoArgs) -> PingResult:
    raise NotImplementedError


async def _no_ctx(args: NoArgs) -> PingResult:
    raise NotImplementedError


async def _unannotated(ctx, args):  # type: ignore[no-untyped-def]
    raise NotImplementedError


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        pytest.param(
            _takes_sum_args,
            "takes SumArgs and returns PingResult, but the op is declared with NoArgs -> PingResult",
            id="other-args",
        ),
        # mypy accepts this one (parameters are contravariant): the registry does not.
        pytest.param(_takes_any_model, "takes EnclaveModel and returns PingResult", id="wider-args"),
        pytest.param(_returns_sum_result, "returns SumResult", id="other-result"),
        pytest.param(_not_async, "not an async function", id="not-async"),
        pytest.param(_no_ctx, "must take \\(ctx, args\\)", id="no-ctx"),
        pytest.param(_unannotated, "takes None and returns None", id="unannotated"),
    ],
)
def test_a_handler_whose_schemas_differ_from_its_declaration_is_refused(handler: Any, message: str) -> None:
    registry = OpRegistry()
    with pytest.raises(TypeError, match=message):
        registry.handler(PING)(handler)
    assert len(registry) == 0


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        pytest.param(lambda: Op("Bad Name", NoArgs, PingResult), ValueError, "does not match", id="bad-name"),
        pytest.param(
            lambda: SignedOp("unsigned_args", NoArgs, PingResult),  # type: ignore[type-var]
            TypeError,
            "must take SignedArgs",
            id="signed-without-signed-args",
        ),
        pytest.param(
            lambda: Op("plain", dict, PingResult),  # type: ignore[type-var]
            TypeError,
            "is not an EnclaveModel",
            id="not-a-model",
        ),
    ],
)
def test_declaration_rules(make: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()


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
