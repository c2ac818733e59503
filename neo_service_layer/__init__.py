"""Neo Service Layer: TEE-backed off-chain services for Neo N3 and Neo X."""

from __future__ import annotations

__version__ = "0.1.0"
