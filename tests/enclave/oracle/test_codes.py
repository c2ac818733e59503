"""The oracle codes are N3's ``OracleResponseCode`` byte for byte (neo-go pkg/core/transaction/oracle.go)."""

from __future__ import annotations

import pytest

from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure

# neo-go: transaction.Success ... transaction.Error, and the C# enum: the same names and bytes.
N3_CODES = {
    "Success": 0x00,
    "ProtocolNotSupported": 0x10,
    "ConsensusUnreachable": 0x12,
    "NotFound": 0x14,
    "Timeout": 0x16,
    "Forbidden": 0x18,
    "ResponseTooLarge": 0x1A,
    "InsufficientFunds": 0x1C,
    "ContentTypeNotSupported": 0x1F,
    "Error": 0xFF,
}


def test_codes_are_n3s() -> None:
    assert {code.name: code.value for code in OracleCode} == N3_CODES


def test_a_failure_carries_its_code_and_detail() -> None:
    failure = OracleFailure(OracleCode.Timeout, "no response within 5 s")
    assert (failure.code, failure.detail, str(failure)) == (
        OracleCode.Timeout,
        "no response within 5 s",
        "no response within 5 s",
    )


def test_success_is_not_a_failure() -> None:
    with pytest.raises(ValueError, match="other than Success"):
        OracleFailure(OracleCode.Success, "fine")
