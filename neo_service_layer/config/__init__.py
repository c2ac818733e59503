"""The platform's settings: ``Settings`` and its groups, read from ``NSL_*`` variables and a TOML file.

- ``settings.py``: :class:`Settings`, its top-level settings and sources, ``Settings.load()``;
- ``groups.py``: the groups (``settings.evm``, ``.n3``, ``.jobs``, ``.rate_limits``, ``.enclave``,
  ``.audit``, ``.oracle``, ``.pricefeed``) and their ``DEFAULT_*`` constants;
- ``flat.py``: the flat names outside Python (``NSL_EVM_RPC_URL`` ↔ ``settings.evm.rpc_url``).

Every setting, its variable and its default: docs/configuration.md.
"""

from neo_service_layer.config.groups import (
    AuditSettings,
    EnclaveBackend,
    EnclaveSettings,
    EvmSettings,
    JobSettings,
    N3Settings,
    OracleSettings,
    PriceFeedSettings,
    RateLimitSettings,
    SettingsGroup,
)
from neo_service_layer.config.settings import LogFormat, Settings, mask_url_password

__all__ = [
    "AuditSettings",
    "EnclaveBackend",
    "EnclaveSettings",
    "EvmSettings",
    "JobSettings",
    "LogFormat",
    "N3Settings",
    "OracleSettings",
    "PriceFeedSettings",
    "RateLimitSettings",
    "Settings",
    "SettingsGroup",
    "mask_url_password",
]
