"""The keys service (``/v1/keys``), one module per concern as OpenBao's transit splits ``path_keys`` from
``path_sign_verify``: ``lifecycle`` (create, policy, rotation, deletion, export, backup and restore),
``crypto`` (sign/verify, encrypt/decrypt/rewrap, data keys, HMAC) and ``chain`` (Neo N3 and EVM signing);
their bodies are in ``routes.keys_schemas``.

Thin routes: each declares its scope (``keys:read`` for reads and verification, ``keys:write`` for
everything else: a viewer cannot sign) and its audit details (key, operation and version, never data),
calls ``services.keys`` and shapes the response.
"""

from __future__ import annotations

from fastapi import APIRouter

from neo_service_layer.api.routes.keys import chain, crypto, lifecycle

# In this order: each module's routes as they were in one router (OpenAPI lists them so).
router = APIRouter()
for module in (lifecycle, crypto, chain):
    router.include_router(module.router)
