"""Enclave op declarations: each op's name, args and result schemas, signed or not — written once.

One module per service (``keys``, ``secrets``, ``randomness``, ``chains``, ``audit``, ``amk``,
``builtin``) holds the pydantic schemas of its ops and a declaration per op::

    SIGN = SignedOp("keys.sign", SignArgs, SignResult)

The host imports these modules (never ``enclave.handlers``) and calls ``enclave.run(SIGN, args)``; the
enclave's handler modules register against the same objects (``@registry.handler(SIGN)``), and
:func:`catalogue` is what the enclave checks its handlers against when it builds its registry: every
declared op has exactly one handler, every handler a declaration (docs/enclave.md §6).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from neo_service_layer.enclave.opdefs.base import Op, OpDecl, SignedOp


def declared_in(*modules: ModuleType) -> list[OpDecl]:
    """The op declarations at module level of ``modules``, each object once, sorted by name."""
    found: dict[int, OpDecl] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Op | SignedOp):
                found.setdefault(id(value), value)
    return sorted(found.values(), key=lambda decl: decl.name)


def catalogue() -> list[OpDecl]:
    """Every op the enclave declares: the declarations of this package's modules."""
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    return declared_in(*modules)
