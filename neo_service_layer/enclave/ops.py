"""The op registry and dispatch: validate args with the op's model, run its handler, sign its result.

A handler module owns one registry and registers its ops on it::

    registry = OpRegistry()

    @registry.op("keys.sign", SignArgs, SignResult, signed=True)
    async def sign(ctx: EnclaveContext, args: SignArgs) -> SignResult: ...

and ``handlers.default_registry()`` merges the modules' registries into the enclave's. Rules for handlers:

* they are pure functions of their args and the context: the enclave keeps no state between requests
  (docs/enclave.md), and the client retries a request once when the connection drops, so running a
  handler twice must be harmless;
* their failures are :class:`EnclaveError` subclasses (``KeyUnusable``, ``CryptoFailure``, ...) or the
  crypto library's ``CryptoError`` (mapped here); any other exception is an ``internal`` error;
* a signed op's args subclass :class:`SignedArgs` and its result is canonical JSON (no floats).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from neo_service_layer.enclave.canonical import CanonicalJSONError, request_hash, result_hash
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto.errors import CryptoError, UnsupportedOperation
from neo_service_layer.enclave.protocol import (
    OP_NAME_PATTERN,
    CryptoFailure,
    EnclaveError,
    InternalError,
    InvalidArgs,
    KeyUnusable,
    describe_validation_error,
)
from neo_service_layer.enclave.schemas import ResultSignatures, SignedArgs, SignedResult
from neo_service_layer.enclave.signing import result_preimage

_OP_NAME = re.compile(OP_NAME_PATTERN)

type Handler[A: BaseModel, R: BaseModel] = Callable[[EnclaveContext, A], Awaitable[R]]


@dataclass(frozen=True, slots=True)
class OpSpec[A: BaseModel, R: BaseModel]:
    """One operation: its name, schemas, handler, and whether its results are signed."""

    name: str
    args_model: type[A]
    result_model: type[R]
    handler: Handler[A, R]
    signed: bool = False


class OpRegistry:
    """Ops by name. Build one per handler module; merge them with :func:`build_registry`."""

    def __init__(self) -> None:
        self._ops: dict[str, OpSpec[Any, Any]] = {}

    def op[A: BaseModel, R: BaseModel](
        self, name: str, args_model: type[A], result_model: type[R], *, signed: bool = False
    ) -> Callable[[Handler[A, R]], Handler[A, R]]:
        """Register the decorated handler as op ``name`` (the handler itself is returned unchanged)."""

        def register(handler: Handler[A, R]) -> Handler[A, R]:
            self.add(OpSpec(name, args_model, result_model, handler, signed))
            return handler

        return register

    def add(self, spec: OpSpec[Any, Any]) -> None:
        if not _OP_NAME.match(spec.name):
            raise ValueError(f"op name {spec.name!r} does not match {OP_NAME_PATTERN}")
        if spec.name in self._ops:
            raise ValueError(f"op {spec.name!r} is registered twice")
        if spec.signed and not issubclass(spec.args_model, SignedArgs):
            raise TypeError(
                f"signed op {spec.name!r} must take SignedArgs (it carries account_id and params)"
            )
        self._ops[spec.name] = spec

    def get(self, name: str) -> OpSpec[Any, Any] | None:
        return self._ops.get(name)

    def names(self) -> list[str]:
        return sorted(self._ops)

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __iter__(self) -> Iterator[OpSpec[Any, Any]]:
        return iter(self._ops.values())

    def __len__(self) -> int:
        return len(self._ops)


def build_registry(*registries: OpRegistry) -> OpRegistry:
    """One registry with every op of ``registries``; ValueError if two define the same op."""
    merged = OpRegistry()
    for registry in registries:
        for spec in registry:
            merged.add(spec)
    return merged


def map_crypto_error(exc: CryptoError) -> EnclaveError:
    """The protocol error for a crypto-library error (its messages never hold key material)."""
    if isinstance(exc, UnsupportedOperation):
        return KeyUnusable(exc.detail)
    if exc.user_error:
        return CryptoFailure(exc.detail)
    return InternalError("cryptographic operation failed inside the enclave")


async def execute(spec: OpSpec[Any, Any], ctx: EnclaveContext, raw_args: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec`` on ``raw_args``: the JSON-ready result, signed if the op is. Raises EnclaveError."""
    try:
        args = spec.args_model.model_validate(raw_args)
    except ValidationError as exc:
        raise InvalidArgs(describe_validation_error(exc)) from exc
    try:
        result = await spec.handler(ctx, args)
    except CryptoError as exc:
        raise map_crypto_error(exc) from exc
    if not isinstance(result, spec.result_model):
        raise InternalError(
            f"op {spec.name} returned {type(result).__name__}, not {spec.result_model.__name__}"
        )
    payload: dict[str, Any] = result.model_dump(mode="json")
    if not spec.signed:
        return payload
    return sign_result(ctx, spec.name, args, payload).model_dump(mode="json")


def sign_result(ctx: EnclaveContext, op: str, args: SignedArgs, payload: dict[str, Any]) -> SignedResult:
    """``payload`` wrapped with the identity's signatures over the request and result hashes (docs §3)."""
    try:
        req = request_hash(op, args.account_id, args.params())
        res = result_hash(payload)
    except CanonicalJSONError as exc:
        raise InternalError(f"op {op} produced a request or result that cannot be signed: {exc}") from exc
    signatures = ctx.sign(result_preimage(req, res))
    return SignedResult(
        result=payload,
        request_hash=req.hex(),
        result_hash=res.hex(),
        signatures=ResultSignatures(p256=signatures.p256.hex(), k1=signatures.k1.hex()),
    )
