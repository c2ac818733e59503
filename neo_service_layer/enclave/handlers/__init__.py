"""Op handler modules. Each owns an ``OpRegistry`` named ``registry``; the enclave serves them all.

To add a module (e.g. ``keys``), write ``handlers/keys.py`` with its ``registry`` and add it to
:func:`default_registry`.
"""

from __future__ import annotations

from neo_service_layer.enclave.ops import OpRegistry, build_registry


def default_registry() -> OpRegistry:
    """Every op the enclave serves."""
    from neo_service_layer.enclave.handlers import amk, audit, builtin, chains, keys, randomness, secrets

    return build_registry(
        builtin.registry,
        amk.registry,
        keys.registry,
        secrets.registry,
        randomness.registry,
        chains.registry,
        audit.registry,
    )
