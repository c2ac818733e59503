"""Send transactions signed locally with an eth-account key and wait for their receipts (web3.py).

Keys sign here, in process, which suits the devnet and deployments by an operator; the platform's
fulfilment transactions are signed inside the enclave instead (DESIGN.md "Chains") and only reuse
:func:`wait_for_success`.
"""

from __future__ import annotations

from typing import Any, cast

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import TimeExhausted, Web3Exception
from web3.types import TxParams, TxReceipt, Wei

from neo_service_layer.chains.evm.errors import EvmTransactionFailed

#: Seconds to wait for a receipt (anvil mines at once; a public chain takes a few blocks).
DEFAULT_RECEIPT_TIMEOUT_SECONDS = 60.0
#: Head-room over eth_estimateGas, in percent: estimates are exact minima and state can move.
GAS_MARGIN_PERCENT = 20


def fill_fees(w3: Web3, tx: TxParams) -> TxParams:
    """Add EIP-1559 fees (max = 2 * base fee + tip) unless the caller set fees."""
    if "gasPrice" in tx or "maxFeePerGas" in tx:
        return tx
    base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
    tip = int(w3.eth.max_priority_fee)
    return cast(TxParams, {**tx, "maxPriorityFeePerGas": Wei(tip), "maxFeePerGas": Wei(2 * base + tip)})


def send_transaction(
    w3: Web3, account: LocalAccount, tx: TxParams, *, timeout: float = DEFAULT_RECEIPT_TIMEOUT_SECONDS
) -> TxReceipt:
    """Fill nonce, chain id, gas and fees, sign with ``account``, send and wait for a successful receipt.

    Raises :class:`EvmTransactionFailed` if the node refuses it (including a revert during gas
    estimation) or it is mined with status 0.
    """
    filled: dict[str, Any] = dict(tx)
    filled["from"] = account.address
    try:
        filled.setdefault("chainId", w3.eth.chain_id)
        filled.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
        if "gas" not in filled:
            estimate = w3.eth.estimate_gas(cast(TxParams, filled))
            filled["gas"] = estimate * (100 + GAS_MARGIN_PERCENT) // 100
        signed = account.sign_transaction(cast(dict[str, Any], fill_fees(w3, cast(TxParams, filled))))
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    except (Web3Exception, ValueError) as e:
        raise EvmTransactionFailed(f"transaction refused: {e}") from e
    return wait_for_success(w3, tx_hash, timeout=timeout)


def transact(
    w3: Web3,
    account: LocalAccount,
    fn: ContractFunction,
    *,
    value: int = 0,
    gas: int | None = None,
    timeout: float = DEFAULT_RECEIPT_TIMEOUT_SECONDS,
) -> TxReceipt:
    """Call a contract function in a transaction from ``account`` (see :func:`send_transaction`)."""
    params: dict[str, Any] = {"from": account.address, "value": Wei(value)}
    if gas is not None:
        params["gas"] = gas
    try:
        tx = fn.build_transaction(cast(TxParams, params))
    except (Web3Exception, ValueError) as e:
        raise EvmTransactionFailed(f"{fn.fn_name} would fail: {e}") from e
    if gas is None:
        tx["gas"] = int(tx["gas"]) * (100 + GAS_MARGIN_PERCENT) // 100
    return send_transaction(w3, account, tx, timeout=timeout)


def wait_for_success(
    w3: Web3, tx_hash: HexBytes | bytes, *, timeout: float = DEFAULT_RECEIPT_TIMEOUT_SECONDS
) -> TxReceipt:
    """The receipt of ``tx_hash``; :class:`EvmTransactionFailed` on timeout or status 0."""
    try:
        receipt = w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=timeout, poll_latency=0.05)
    except TimeExhausted as e:
        raise EvmTransactionFailed(f"no receipt for {HexBytes(tx_hash).to_0x_hex()} in {timeout} s") from e
    if receipt["status"] != 1:
        raise EvmTransactionFailed(
            f"transaction {HexBytes(tx_hash).to_0x_hex()} reverted", tx_hash=HexBytes(tx_hash).to_0x_hex()
        )
    return receipt
