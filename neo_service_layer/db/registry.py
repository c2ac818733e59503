"""Imports every module that defines ORM models, so ``Base.metadata`` is complete for migrations."""

from __future__ import annotations

import importlib

MODEL_MODULES: tuple[str, ...] = (
    "neo_service_layer.db.models",
    "neo_service_layer.services.masterkeys.models",
    "neo_service_layer.services.keys.models",
    "neo_service_layer.services.secrets.models",
    "neo_service_layer.services.randomness.models",
    "neo_service_layer.services.oracle.models",
    "neo_service_layer.services.pricefeed.models",
    "neo_service_layer.services.functions.models",
    "neo_service_layer.chains.cursors",
    "neo_service_layer.chains.fulfilments",
)


def import_all_models() -> None:
    """Import the model modules of the platform and of every service."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
