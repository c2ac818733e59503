"""The two kinds of op declaration: :class:`Op` (result as is) and :class:`SignedOp` (result signed).

A declaration is the one place an op's name, args model and result model are written down; the
enclave registers its handler against it (``enclave/ops.py``) and the host calls through it
(``EnclaveClient.run``), so both sides share the same objects and mypy checks each against them. They
are two classes rather than one with a flag so that the client's ``run`` can be overloaded on the
kind: ``run(SignedOp[A, R], A)`` returns ``Signed[R]``, ``run(Op[A, R], A)`` returns ``R``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from neo_service_layer.enclave.protocol import OP_NAME_PATTERN
from neo_service_layer.enclave.schemas import EnclaveModel, SignedArgs

_OP_NAME = re.compile(OP_NAME_PATTERN)


@dataclass(frozen=True, slots=True, eq=False)
class _Declaration[A: EnclaveModel, R: EnclaveModel]:
    """What both kinds hold. Compared by identity: one object per op."""

    name: str
    args_model: type[A]
    result_model: type[R]

    def __post_init__(self) -> None:
        if not _OP_NAME.match(self.name):
            raise ValueError(f"op name {self.name!r} does not match {OP_NAME_PATTERN}")
        for model in (self.args_model, self.result_model):
            if not (isinstance(model, type) and issubclass(model, EnclaveModel)):
                raise TypeError(f"op {self.name!r}: {model!r} is not an EnclaveModel")


class Op[A: EnclaveModel, R: EnclaveModel](_Declaration[A, R]):
    """An op whose result the enclave returns unsigned."""

    __slots__ = ()

    @property
    def signed(self) -> bool:
        return False


class SignedOp[A: SignedArgs, R: EnclaveModel](_Declaration[A, R]):
    """An op whose result the enclave signs, with the request it answers (docs/enclave.md §3)."""

    __slots__ = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        # The signed request is (op, account_id, params): only SignedArgs carry both.
        if not issubclass(self.args_model, SignedArgs):
            raise TypeError(f"signed op {self.name!r} must take SignedArgs (account_id and params)")

    @property
    def signed(self) -> bool:
        return True


#: Either kind, where the kind does not matter (the registry, the catalogue).
type OpDecl = Op[Any, Any] | SignedOp[Any, Any]
