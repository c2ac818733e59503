"""Every table of items wrapped under an account master key: what AMK rotation rewraps.

A service that wraps items under the AMK adds its :class:`RewrapSource` here (and only here).
"""

from __future__ import annotations

from neo_service_layer.services.keys.rewrap_source import KeyVersionSource
from neo_service_layer.services.masterkeys.service import RewrapSource
from neo_service_layer.services.secrets.rewrap_source import SecretDekSource


def rewrap_sources() -> list[RewrapSource]:
    """The sources rotation moves, in order: key versions' material, then secret data keys."""
    return [KeyVersionSource(), SecretDekSource()]
