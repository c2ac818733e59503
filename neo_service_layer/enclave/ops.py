"""The op registry and dispatch: validate args with the op's model, run its handler, sign its result.

Ops are declared once, host-importable, in ``enclave/opdefs/`` (name, args and result models, signed or
not). A handler module owns one registry and registers a handler per declaration on it::

    registry = OpRegistry()

    @registry.handler(SIGN)
    async def sign(ctx: EnclaveContext, args: SignArgs) -> SignResult: ...

mypy checks the handler's types against the declaration, and so does :meth:`OpRegistry.handler` when
the module is imported; :func:`build_registry` merges the modules' registries and refuses to build
unless every declared op has exactly one handler and every handler a declaration. Rules for handlers:

* they are functions of their args and the context: the enclave keeps no state between requests
  (docs/enclave.md), and the client retries a request once when the connection drops, so running a
  handler twice must be harmless; what they reach beyond the enclave (the web, a sandbox) they reach
  through the context's capabilities (``context.py``), never a module of their own;
* their failures are :class:`EnclaveError` subclasses (``KeyUnusable``, ``CryptoFailure``, ...) or the
  crypto library's ``CryptoError`` (mapped here); any other exception is an ``internal`` error;
* a signed op's args subclass :class:`SignedArgs` and its result is canonical JSON (no floats).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, get_type_hints, overload

from pydantic import ValidationError

from neo_service_layer.enclave.canonical import CanonicalJSONError, request_hash, result_hash
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto.errors import CryptoError, UnsupportedOperation
from neo_service_layer.enclave.opdefs.base import Op, OpDecl, SignedOp
from neo_service_layer.enclave.protocol import (
    CryptoFailure,
    EnclaveError,
    InternalError,
    InvalidArgs,
    KeyUnusable,
    describe_validation_error,
)
from neo_service_layer.enclave.schemas import EnclaveModel, SignedArgs, SignedResult
from neo_service_layer.enclave.signing import result_preimage

type Handler[A: EnclaveModel, R: EnclaveModel] = Callable[[EnclaveContext, A], Awaitable[R]]


@dataclass(frozen=True, slots=True)
class OpSpec:
    """A declared op and the handler that serves it."""

    decl: OpDecl
    handler: Handler[Any, Any]

    @property
    def name(self) -> str:
        return self.decl.name

    @property
    def args_model(self) -> type[EnclaveModel]:
        return self.decl.args_model

    @property
    def result_model(self) -> type[EnclaveModel]:
        return self.decl.result_model

    @property
    def signed(self) -> bool:
        return self.decl.signed


def _model_name(value: object) -> str:
    return getattr(value, "__name__", repr(value))


def _check_handler(decl: OpDecl, handler: Handler[Any, Any]) -> None:
    """TypeError unless ``handler`` is ``async def (ctx, args: <args model>) -> <result model>`` of ``decl``.

    mypy checks the same, but accepts a handler of a wider args type (parameters are contravariant) and
    cannot see untyped code: this catches both when the handler module is imported.
    """
    where = f"handler {getattr(handler, '__qualname__', handler)!r} of op {decl.name!r}"
    if not inspect.iscoroutinefunction(handler):
        raise TypeError(f"{where} is not an async function")
    params = list(inspect.signature(handler).parameters)
    if len(params) != 2:
        raise TypeError(f"{where} must take (ctx, args)")
    try:
        hints = get_type_hints(handler)
    except NameError as exc:
        raise TypeError(f"{where} has annotations that do not resolve: {exc}") from exc
    takes, returns = hints.get(params[1]), hints.get("return")
    if takes is not decl.args_model or returns is not decl.result_model:
        raise TypeError(
            f"{where} takes {_model_name(takes)} and returns {_model_name(returns)}, but the op is "
            f"declared with {decl.args_model.__name__} -> {decl.result_model.__name__}"
        )


class OpRegistry:
    """Handlers by op name. Build one per handler module; merge them with :func:`build_registry`."""

    def __init__(self) -> None:
        self._ops: dict[str, OpSpec] = {}

    @overload
    def handler[A: SignedArgs, R: EnclaveModel](
        self, decl: SignedOp[A, R]
    ) -> Callable[[Handler[A, R]], Handler[A, R]]: ...

    @overload
    def handler[A: EnclaveModel, R: EnclaveModel](
        self, decl: Op[A, R]
    ) -> Callable[[Handler[A, R]], Handler[A, R]]: ...

    def handler(self, decl: OpDecl) -> Callable[[Handler[Any, Any]], Handler[Any, Any]]:
        """Register the decorated function as the handler of ``decl`` (it is returned unchanged)."""

        def register(handler: Handler[Any, Any]) -> Handler[Any, Any]:
            _check_handler(decl, handler)
            self.add(OpSpec(decl, handler))
            return handler

        return register

    def add(self, spec: OpSpec) -> None:
        if spec.name in self._ops:
            raise ValueError(f"op {spec.name!r} has two handlers")
        self._ops[spec.name] = spec

    def get(self, name: str) -> OpSpec | None:
        return self._ops.get(name)

    def names(self) -> list[str]:
        return sorted(self._ops)

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __iter__(self) -> Iterator[OpSpec]:
        return iter(self._ops.values())

    def __len__(self) -> int:
        return len(self._ops)


def build_registry(declared: Iterable[OpDecl], *registries: OpRegistry) -> OpRegistry:
    """One registry with every handler of ``registries``, which must serve exactly the ``declared`` ops.

    ValueError if an op is declared twice, has two handlers, has none, or a handler serves an op that
    is not declared (or is registered against another declaration of the same name).
    """
    merged = OpRegistry()
    for registry in registries:
        for spec in registry:
            merged.add(spec)
    declarations: dict[str, OpDecl] = {}
    for decl in declared:
        if declarations.setdefault(decl.name, decl) is not decl:
            raise ValueError(f"op {decl.name!r} is declared twice")
    missing = sorted(set(declarations) - set(merged.names()))
    if missing:
        raise ValueError(f"declared ops without a handler: {', '.join(missing)}")
    undeclared = sorted(spec.name for spec in merged if declarations.get(spec.name) is not spec.decl)
    if undeclared:
        raise ValueError(f"handlers of undeclared ops: {', '.join(undeclared)}")
    return merged


def map_crypto_error(exc: CryptoError) -> EnclaveError:
    """The protocol error for a crypto-library error (its messages never hold key material)."""
    if isinstance(exc, UnsupportedOperation):
        return KeyUnusable(exc.detail)
    if exc.user_error:
        return CryptoFailure(exc.detail)
    return InternalError("cryptographic operation failed inside the enclave")


async def execute(spec: OpSpec, ctx: EnclaveContext, raw_args: dict[str, Any]) -> dict[str, Any]:
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
    assert isinstance(args, SignedArgs)  # a SignedOp's args model is a SignedArgs (opdefs/base.py)
    return _signed(ctx, spec.name, args, payload)


def sign_result(ctx: EnclaveContext, op: str, args: SignedArgs, payload: dict[str, Any]) -> SignedResult:
    """``payload`` wrapped with the identity's signatures over the request and result hashes (docs §3)."""
    return SignedResult.model_validate(_signed(ctx, op, args, payload))


def _signed(ctx: EnclaveContext, op: str, args: SignedArgs, payload: dict[str, Any]) -> dict[str, Any]:
    """:func:`sign_result` as the JSON object a response carries, built directly: every value in it is
    already JSON-ready (hex strings, ``payload`` dumped in JSON mode), so a model and its dump would
    only copy it."""
    try:
        req = request_hash(op, args.account_id, args.params())
        res = result_hash(payload)
    except CanonicalJSONError as exc:
        raise InternalError(f"op {op} produced a request or result that cannot be signed: {exc}") from exc
    signatures = ctx.sign(result_preimage(req, res))
    return {
        "result": payload,
        "request_hash": req.hex(),
        "result_hash": res.hex(),
        "signatures": {"p256": signatures.p256.hex(), "k1": signatures.k1.hex()},
    }
