"""Typed errors of ``nsl devnet`` (stable codes, see :mod:`neo_service_layer.errors`)."""

from __future__ import annotations

from neo_service_layer.errors import ConfigurationError, ServiceUnavailable


class DevnetStateInvalid(ConfigurationError):
    """``<data_dir>/devnet/state.json`` cannot be read or does not have the expected fields."""

    code = "devnet_state_invalid"
    title = "The devnet state file is unreadable"


class DevnetUnhealthy(ServiceUnavailable):
    """A devnet is recorded but one of its chains is not running or not answering."""

    code = "devnet_unhealthy"
    title = "The devnet is partly down (run nsl devnet down, then up)"


class ConfigFileInvalid(ConfigurationError):
    """The NSL TOML config file cannot be parsed, so it is not rewritten."""

    code = "config_file_invalid"
    title = "The NSL config file is not valid TOML"


class DevnetBusy(ServiceUnavailable):
    """Another ``nsl devnet up`` is running on the same data directory."""

    code = "devnet_busy"
    title = "Another nsl devnet up is running"
