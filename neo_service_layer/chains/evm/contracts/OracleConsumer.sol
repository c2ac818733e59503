// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {INSLGateway} from "./INSLGateway.sol";

/// @title OracleConsumer: an example contract that asks the NSL oracle service for web data.
/// @notice The request payload is abi.encode(string url, string filter) (an empty filter: the body as it
///         is); the result is abi.encode(uint8 code, bytes data), code being Neo N3's OracleResponseCode
///         (0x00 Success, 0x14 NotFound, 0x18 Forbidden, 0xff Error, ...) and data the filter's output,
///         empty unless Success and at most 1,024 bytes (docs/oracle.md §8).
contract OracleConsumer {
    bytes32 internal constant ORACLE = "oracle";
    /// Storing the largest answer (1,024 bytes: 33 storage slots) takes about 750,000 gas.
    uint32 public constant CALLBACK_GAS = 1_000_000;
    /// NSL never delivers more data than this; a result that claims more is refused.
    uint256 public constant MAX_DATA_SIZE = 1024;

    INSLGateway public immutable gateway;
    mapping(bytes32 => uint8) public codes;
    mapping(bytes32 => bytes) public results;
    mapping(bytes32 => bool) public pending;
    bytes32 public lastRequestId;

    event OracleResult(bytes32 indexed requestId, uint8 code, bytes data);

    error OnlyGateway(address caller);
    error NotPending(bytes32 requestId);
    error ResultTooLarge(uint256 size);

    constructor(INSLGateway gateway_) {
        gateway = gateway_;
    }

    /// @notice Fetch `url` and keep what `filter` selects (N3 JSONPath; "" for the whole body), paying at
    ///         least gateway.requestPrice("oracle", SignatureOnly, CALLBACK_GAS, tx.gasprice).
    function requestUrl(string calldata url, string calldata filter) external payable returns (bytes32) {
        return _request(abi.encode(url, filter));
    }

    /// @notice Send `query` (the oracle service's request payload) with at least
    ///         gateway.requestPrice("oracle", SignatureOnly, CALLBACK_GAS, tx.gasprice).
    function requestData(bytes calldata query) external payable returns (bytes32) {
        return _request(query);
    }

    function _request(bytes memory query) internal returns (bytes32 requestId) {
        requestId = gateway.request{value: msg.value}(
            ORACLE, query, address(this), this.onOracleResult.selector, CALLBACK_GAS, INSLGateway.Mode.SignatureOnly
        );
        pending[requestId] = true;
        lastRequestId = requestId;
    }

    /// @notice The gateway's callback: keeps the response code and the data.
    function onOracleResult(bytes32 requestId, bytes calldata result) external {
        if (msg.sender != address(gateway)) revert OnlyGateway(msg.sender);
        if (!pending[requestId]) revert NotPending(requestId);
        (uint8 code, bytes memory data) = abi.decode(result, (uint8, bytes));
        if (data.length > MAX_DATA_SIZE) revert ResultTooLarge(data.length);
        pending[requestId] = false;
        codes[requestId] = code;
        results[requestId] = data;
        emit OracleResult(requestId, code, data);
    }
}
