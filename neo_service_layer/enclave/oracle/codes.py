"""The oracle's outcome codes: the Neo N3 oracle's ``OracleResponseCode``, with the same numbers.

Contracts branch on these values on either chain, so they are fixed: never renumbered, never reused
(neo-go ``pkg/core/transaction/oracle.go``; the C# ``Neo.Network.P2P.Payloads.OracleResponseCode``).
An outcome other than ``Success`` is a *result* the oracle signs and delivers, not an HTTP error.
"""

from __future__ import annotations

from enum import IntEnum


class OracleCode(IntEnum):
    """``OracleResponseCode``: the name is the N3 name, the value the byte on the wire."""

    Success = 0x00
    ProtocolNotSupported = 0x10
    ConsensusUnreachable = 0x12
    NotFound = 0x14
    Timeout = 0x16
    Forbidden = 0x18
    ResponseTooLarge = 0x1A
    InsufficientFunds = 0x1C
    ContentTypeNotSupported = 0x1F
    Error = 0xFF


class OracleFailure(Exception):
    """A request ended with ``code`` (not ``Success``); ``detail`` says why in words that never quote
    the request's URL, headers or body (they may carry substituted secrets)."""

    def __init__(self, code: OracleCode, detail: str) -> None:
        if code is OracleCode.Success:
            raise ValueError("a failure needs a code other than Success")
        super().__init__(detail)
        self.code = code
        self.detail = detail
