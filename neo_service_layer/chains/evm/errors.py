"""Typed errors of the EVM chain adapter (stable codes, see :mod:`neo_service_layer.errors`)."""

from __future__ import annotations

from neo_service_layer.errors import ConfigurationError, NSLError, ServiceUnavailable, ValidationFailed


class EvmToolchainMissing(ConfigurationError):
    """anvil, solc-js or node is not installed where NSL looks for it."""

    code = "evm_toolchain_missing"
    title = "EVM toolchain not installed (run make setup)"


class ContractBuildFailed(NSLError):
    """solc-js reported errors or produced no usable output."""

    code = "contract_build_failed"
    status = 500
    title = "Contract compilation failed"


class DevnetFailed(ServiceUnavailable):
    """The local chain did not start, or stopped answering."""

    code = "devnet_failed"
    title = "Local EVM chain failed"


class EvmTransactionFailed(NSLError):
    """A transaction was mined with status 0, or could not be sent."""

    code = "evm_transaction_failed"
    status = 502
    title = "EVM transaction failed"


class InvalidChainMessage(ValidationFailed):
    """A value does not fit the on-chain message format (wrong size, out of range)."""

    code = "invalid_chain_message"
    title = "Value does not fit the EVM message format"


class EvmRpcUnavailable(ServiceUnavailable):
    """The EVM node did not answer (transport failure or an HTTP error): retry later."""

    code = "evm_rpc_unavailable"
    title = "EVM node unavailable"
