// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title INSLGateway: what a consumer contract needs from the NSL gateway (docs/chains-evm.md).
/// @notice A consumer calls request() and receives the result in its own callback,
///         `function <selector>(bytes32 requestId, bytes calldata result) external`, called by the gateway
///         with at most `gasForResponse` gas. The callback must check `msg.sender == gateway`.
interface INSLGateway {
    /// How a result is checked on chain. Numeric values are fixed and never renumbered.
    enum Mode {
        /// 0: the gateway checks the enclave's secp256k1 signature (any service).
        SignatureOnly,
        /// 1: the signature, and the Dodis-Yampolskiy proof against the registered key (randomness only).
        OnchainVerify
    }

    /// @notice Ask for a service result; msg.value must be at least
    ///         requestPrice(service, mode, gasForResponse, tx.gasprice) = fee + gasForResponse * tx.gasprice.
    /// @param service The service name, ASCII left-aligned and zero-padded ("randomness", "oracle", ...).
    /// @param payload The service input (for randomness: the consumer's seed).
    /// @param callbackContract msg.sender (the result is delivered to it) or address(0) (event only).
    /// @param callbackSelector The consumer method called as (bytes32 requestId, bytes result).
    /// @param gasForResponse Gas the callback gets, at most MAX_GAS_FOR_RESPONSE.
    /// @param mode SignatureOnly or OnchainVerify.
    /// @return requestId The unique id, also emitted in ServiceRequested.
    function request(
        bytes32 service,
        bytes calldata payload,
        address callbackContract,
        bytes4 callbackSelector,
        uint32 gasForResponse,
        Mode mode
    ) external payable returns (bytes32 requestId);

    /// @notice The fee in wei for a service and mode, before the callback's gas; reverts ServiceNotOffered
    ///         if it is not offered.
    function fee(bytes32 service, Mode mode) external view returns (uint256);

    /// @notice What a request pays at least: fee(service, mode) + gasForResponse * gasPrice (in a request,
    ///         gasPrice is the transaction's tx.gasprice); reverts ServiceNotOffered if it is not offered.
    function requestPrice(bytes32 service, Mode mode, uint32 gasForResponse, uint256 gasPrice)
        external
        view
        returns (uint256);

    /// @notice The address whose secp256k1 signatures the gateway accepts (the enclave's key).
    function enclaveSigner() external view returns (address);

    /// @notice True while the owner has paused requests and fulfilments.
    function paused() external view returns (bool);
}
