// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {INSLGateway} from "./INSLGateway.sol";

/// @title OracleConsumer: an example contract that asks the NSL oracle service for off-chain data.
/// @notice The result bytes are the oracle service's enclave-signed response; results longer than
///         MAX_RESULT_SIZE are refused by the callback (the gateway still records the fulfilment).
contract OracleConsumer {
    bytes32 internal constant ORACLE = "oracle";
    uint32 public constant CALLBACK_GAS = 300_000;
    uint256 public constant MAX_RESULT_SIZE = 256;

    INSLGateway public immutable gateway;
    mapping(bytes32 => bytes) public results;
    mapping(bytes32 => bool) public pending;
    bytes32 public lastRequestId;

    event OracleResult(bytes32 indexed requestId, bytes result);

    error OnlyGateway(address caller);
    error NotPending(bytes32 requestId);
    error ResultTooLarge(uint256 size);

    constructor(INSLGateway gateway_) {
        gateway = gateway_;
    }

    /// @notice Send `query` (the oracle service's request payload) with at least
    ///         gateway.requestPrice("oracle", SignatureOnly, CALLBACK_GAS, tx.gasprice).
    function requestData(bytes calldata query) external payable returns (bytes32 requestId) {
        requestId = gateway.request{value: msg.value}(
            ORACLE, query, address(this), this.onOracleResult.selector, CALLBACK_GAS, INSLGateway.Mode.SignatureOnly
        );
        pending[requestId] = true;
        lastRequestId = requestId;
    }

    /// @notice The gateway's callback.
    function onOracleResult(bytes32 requestId, bytes calldata result) external {
        if (msg.sender != address(gateway)) revert OnlyGateway(msg.sender);
        if (!pending[requestId]) revert NotPending(requestId);
        if (result.length > MAX_RESULT_SIZE) revert ResultTooLarge(result.length);
        pending[requestId] = false;
        results[requestId] = result;
        emit OracleResult(requestId, result);
    }
}
