"""Op handler modules. Each owns an ``OpRegistry`` named ``registry``; the enclave serves them all.

To add a module (e.g. ``keys``), declare its ops in ``opdefs/keys.py``, write ``handlers/keys.py`` with
its ``registry`` and a ``@registry.handler(DECL)`` per op, and add it to :func:`handler_registries`.
Only the enclave imports this package: the host calls ops through their declarations.
"""

from __future__ import annotations

from neo_service_layer.enclave.opdefs import catalogue
from neo_service_layer.enclave.ops import OpRegistry, build_registry


def handler_registries() -> tuple[OpRegistry, ...]:
    """The registry of every handler module."""
    from neo_service_layer.enclave.handlers import (
        amk,
        audit,
        builtin,
        chains,
        functions,
        functions_chains,
        keys,
        n3_oracle,
        oracle,
        oracle_chains,
        pricefeed,
        randomness,
        secrets,
    )

    return (
        builtin.registry,
        amk.registry,
        keys.registry,
        secrets.registry,
        randomness.registry,
        oracle.registry,
        oracle_chains.registry,
        pricefeed.registry,
        chains.registry,
        n3_oracle.registry,
        audit.registry,
        functions.registry,
        functions_chains.registry,
    )


def default_registry() -> OpRegistry:
    """Every op the enclave serves; ValueError unless each declared op has exactly one handler."""
    return build_registry(catalogue(), *handler_registries())
