"""The Neo N3 native oracle's response transaction, built byte for byte as neo-go's oracle service does.

neo-go ``pkg/services/oracle/response.go`` ``CreateResponseTx`` (v0.120.0, the node NSL runs) makes
one transaction per request that every designated oracle node builds identically and signs:

- version 0, ``nonce = uint32(request id)``, ``ValidUntilBlock`` chosen by the caller
  (``request.go`` ``processRequest``: the request transaction's height + MaxValidUntilBlockIncrement);
- one attribute, ``OracleResponse`` (type ``0x11``: id u64 LE, code u8, result var-bytes;
  ``pkg/core/transaction/oracle.go``);
- script: ``OracleContract.finish()`` with call flags All (``pkg/core/native/oracle.go``
  ``CreateOracleResponseScript`` = ``smartcontract.CreateCallScript``: NEWARRAY0, PUSH15,
  PUSHDATA1 "finish", PUSHDATA1 hash, SYSCALL System.Contract.Call);
- signers: the OracleContract (scope None; it pays: the request minted ``gasForResponse`` to it)
  then the designated nodes' default multi-signature account (scope None);
- witnesses: an empty one for the OracleContract (its ``verify`` only checks the attribute) and the
  nodes' multisig, whose invocation script pushes ``m = n - (n-1)/3`` signatures in node order
  (``transaction.go`` ``finalizeTx``, ``smartcontract.GetDefaultHonestNodeCount``).

Fees, as ``CreateResponseTx`` computes them from the chain's exec fee factor (picoGAS since the Faun
hardfork: ``fee.Calculate`` converts with ``vm.PicoGasToDatoshiInt64``) and fee per byte:

    size     = size(tx with one empty witness) + size(multisig invocation of m sigs) + size(verif. script)
    netfee   = verifyGas + multisigVerifyFee + size * feePerByte
    sysfee   = gasForResponse - netfee

``verifyGas`` is what running the OracleContract's ``verify`` costs: its native stub ``PUSH0; SYSCALL
System.Contract.CallNative; RET`` (``pkg/core/interop/context.go``) at opcode price 1 plus the method
price ``1 << 15``, times the exec fee factor (``testVerify``). When ``netfee`` exceeds
``gasForResponse`` the response becomes ``InsufficientFunds`` with no result, and the size is taken again.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from neo3.contracts import utils as contract_utils
from neo3.core import cryptography as neo_crypto
from neo3.core import utils as core_utils

from neo_service_layer.enclave.crypto import keys
from neo_service_layer.enclave.crypto.errors import CryptoError, InvalidInput
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.oracle.codes import OracleCode

#: The native OracleContract's script hash, little-endian as serialized (display form
#: 0xfe924b7cfe89ddd271abaf7210a80a7e11178758; neo-go ``nativehashes.OracleContract``).
ORACLE_CONTRACT_HASH: Final = bytes.fromhex("fe924b7cfe89ddd271abaf7210a80a7e11178758")[::-1]
ORACLE_RESPONSE_ATTRIBUTE: Final = 0x11
MAX_RESULT_SIZE: Final = 0xFFFF  # transaction.MaxOracleResultSize
#: neo-go ``vm.ExecFeeFactorMultiplier``: picoGAS per datoshi of the exec fee factor.
EXEC_FEE_FACTOR_MULTIPLIER: Final = 10_000
#: ``fee.ECDSAVerifyPrice``, and the OracleContract ``verify`` method's CPU price (both 1 << 15).
ECDSA_VERIFY_PRICE: Final = 1 << 15
VERIFY_METHOD_PRICE: Final = 1 << 15
#: Opcode prices of what the fees count (``pkg/core/fee/opcode.go``): PUSH0..PUSH16 and PUSHINT8 are
#: 1, PUSHDATA1 is 8; PUSHINT16 (m or n above 16, up to 1024 keys) is 1 as well.
_PUSH_SMALL_PRICE: Final = 1
_PUSHDATA1_PRICE: Final = 1 << 3
SIGNATURE_SIZE: Final = 64
_SCOPE_NONE: Final = 0x00


@dataclass(frozen=True, slots=True)
class FeeParams:
    """The chain's fee settings at the time of the response (PolicyContract)."""

    exec_fee_factor_pico: int  # getExecPicoFeeFactor (= getExecFeeFactor * 10000)
    fee_per_byte: int  # getFeePerByte, datoshi


@dataclass(frozen=True, slots=True)
class ResponseTx:
    """An unsigned response transaction and what went into it."""

    unsigned: bytes  #: the signed part: everything but the witnesses
    code: OracleCode
    result: bytes
    system_fee: int
    network_fee: int
    verification_script: bytes  #: the oracle nodes' multisig
    signatures_needed: int


def honest_node_count(n: int) -> int:
    """``smartcontract.GetDefaultHonestNodeCount``: ``n - (n-1)/3`` signatures of ``n`` nodes."""
    return n - (n - 1) // 3


def response_script() -> bytes:
    """``OracleContract.finish()`` as neo-go's ``CreateOracleResponseScript`` emits it."""
    method = b"finish"
    return (
        b"\xc2"  # NEWARRAY0: no arguments
        + b"\x1f"  # PUSH15: CallFlags.All
        + b"\x0c"
        + bytes([len(method)])
        + method
        + b"\x0c\x14"
        + ORACLE_CONTRACT_HASH
        + b"\x41"
        + bytes.fromhex("627d5b52")  # SYSCALL System.Contract.Call
    )


def oracle_nodes_script(public_keys: Sequence[bytes]) -> bytes:
    """The designated nodes' default multisig verification script (keys sorted as neo-go sorts them)."""
    if not public_keys:
        raise InvalidInput("no oracle nodes are designated")
    try:
        compressed = [keys.normalize_public_key(KeyType.SECP256R1, key) for key in public_keys]
    except CryptoError as e:
        raise InvalidInput(f"an oracle node key is not a secp256r1 point: {e}") from e
    points = [neo_crypto.ECPoint(key, neo_crypto.ECCCurve.SECP256R1, True) for key in compressed]  # type: ignore[no-untyped-call]
    return contract_utils.create_multisig_redeemscript(honest_node_count(len(points)), points)


def verify_gas(fees: FeeParams) -> int:
    """Datoshi ``verify`` of the OracleContract costs (``testVerify``; module docstring)."""
    return _pico_to_datoshi((_PUSH_SMALL_PRICE + VERIFY_METHOD_PRICE) * fees.exec_fee_factor_pico)


def multisig_verify_fee(m: int, n: int, fees: FeeParams) -> int:
    """``fee.Calculate`` for an m-of-n multisig: the pushes of m signatures and n keys, n ECDSA checks."""
    base = fees.exec_fee_factor_pico

    def pushes(count: int) -> int:
        return (_PUSHDATA1_PRICE * count + _PUSH_SMALL_PRICE) * base

    return _pico_to_datoshi(pushes(m) + pushes(n) + base * ECDSA_VERIFY_PRICE * n)


def build_response_tx(
    *,
    request_id: int,
    code: OracleCode,
    result: bytes,
    gas_for_response: int,
    valid_until_block: int,
    oracle_nodes: Sequence[bytes],
    fees: FeeParams,
) -> ResponseTx:
    """The unsigned response transaction neo-go's ``CreateResponseTx`` makes (module docstring)."""
    if not 0 <= request_id < 2**64:
        raise InvalidInput("an oracle request id is a uint64")
    if code is not OracleCode.Success and result:
        raise InvalidInput("only a Success response carries a result")
    if len(result) > MAX_RESULT_SIZE:
        raise InvalidInput(f"an oracle result is at most {MAX_RESULT_SIZE} bytes")
    verification = oracle_nodes_script(oracle_nodes)
    m, n = honest_node_count(len(oracle_nodes)), len(oracle_nodes)
    script = response_script()
    # The size with the OracleContract's empty witness only (``io.GetVarSize(tx)`` with one witness),
    # then the multisig witness as fee.Calculate sizes it.
    invocation_size = (SIGNATURE_SIZE + 2) * m
    multisig_size = _var_int_size(invocation_size) + invocation_size + _var_bytes_size(verification)
    fixed = verify_gas(fees) + multisig_verify_fee(m, n, fees)

    def size_with(attr_code: OracleCode, attr_result: bytes) -> int:
        body = _unsigned(request_id, 0, 0, valid_until_block, attr_code, attr_result, script, oracle_nodes)
        return len(body) + 1 + 2 + multisig_size  # witness count, the empty witness (two empty scripts)

    size = size_with(code, result)
    if fixed + size * fees.fee_per_byte > gas_for_response:
        code, result = OracleCode.InsufficientFunds, b""
        size = size_with(code, result)
    network_fee = fixed + size * fees.fee_per_byte
    system_fee = gas_for_response - network_fee
    unsigned = _unsigned(
        request_id, system_fee, network_fee, valid_until_block, code, result, script, oracle_nodes
    )
    return ResponseTx(unsigned, code, result, system_fee, network_fee, verification, m)


def signed_transaction(tx: ResponseTx, signatures: Sequence[bytes]) -> bytes:
    """``tx`` with its two witnesses; ``signatures``: ``m`` of them, in the order of the nodes' sorted keys
    (the order ``CheckMultisig`` walks them), each raw ``r ‖ s``."""
    if len(signatures) != tx.signatures_needed:
        raise InvalidInput(f"the oracle nodes' multisig takes {tx.signatures_needed} signatures")
    invocation = b"".join(b"\x0c\x40" + sig for sig in signatures if len(sig) == SIGNATURE_SIZE)
    if len(invocation) != (SIGNATURE_SIZE + 2) * len(signatures):
        raise InvalidInput("a signature is 64 bytes (r ‖ s)")
    witnesses = b"\x02" + b"\x00\x00" + _var_bytes(invocation) + _var_bytes(tx.verification_script)
    return tx.unsigned + witnesses


def _unsigned(
    request_id: int,
    system_fee: int,
    network_fee: int,
    valid_until_block: int,
    code: OracleCode,
    result: bytes,
    script: bytes,
    oracle_nodes: Sequence[bytes],
) -> bytes:
    # Transaction.EncodeHashableFields (pkg/core/transaction/transaction.go).
    nodes_account = _hash160(oracle_nodes_script(oracle_nodes))
    header = struct.pack(
        "<BIqqI", 0, request_id & 0xFFFFFFFF, system_fee, network_fee, valid_until_block & 0xFFFFFFFF
    )
    signers = b"\x02" + ORACLE_CONTRACT_HASH + bytes([_SCOPE_NONE]) + nodes_account + bytes([_SCOPE_NONE])
    attribute = (
        bytes([ORACLE_RESPONSE_ATTRIBUTE]) + struct.pack("<QB", request_id, int(code)) + _var_bytes(result)
    )
    return header + signers + b"\x01" + attribute + _var_bytes(script)


def _hash160(script: bytes) -> bytes:
    return bytes(core_utils.to_script_hash(script).to_array())


def _pico_to_datoshi(pico: int) -> int:
    return (pico + EXEC_FEE_FACTOR_MULTIPLIER - 1) // EXEC_FEE_FACTOR_MULTIPLIER


def _var_int(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def _var_int_size(n: int) -> int:
    return len(_var_int(n))


def _var_bytes(data: bytes) -> bytes:
    return _var_int(len(data)) + data


def _var_bytes_size(data: bytes) -> int:
    return _var_int_size(len(data)) + len(data)
