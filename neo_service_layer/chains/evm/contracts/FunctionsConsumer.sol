// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {INSLGateway} from "./INSLGateway.sol";

/// @title FunctionsConsumer: an example contract that calls an NSL function (docs/functions.md).
/// @notice The request payload is abi.encode(string functionId, bytes32 sourceHash, string args): the
///         function's id ("fn_..."), the SHA-256 of the source it must run (bytes32(0): the function's
///         current version, as the host says) and its args as JSON text ("" for null). The owner of the
///         function must list this contract in its onchain_consumers. The result is
///         abi.encode(uint8 code, bytes32 sourceHash, bytes data): code 0 Success (data: the returned
///         value as JSON text, at most 1,024 bytes), else an error code and a short text (at most 256
///         bytes); sourceHash the SHA-256 of the code that ran (zero when nothing ran).
contract FunctionsConsumer {
    bytes32 internal constant FUNCTIONS = "functions";
    /// Storing the largest answer (1,024 bytes of data, the code and the hash) takes about 800,000 gas.
    uint32 public constant CALLBACK_GAS = 1_000_000;
    /// NSL never delivers more data than this; a result that claims more is refused.
    uint256 public constant MAX_DATA_SIZE = 1024;

    INSLGateway public immutable gateway;
    mapping(bytes32 => uint8) public codes;
    mapping(bytes32 => bytes32) public sourceHashes;
    mapping(bytes32 => bytes) public results;
    mapping(bytes32 => bool) public pending;
    bytes32 public lastRequestId;

    event FunctionResult(bytes32 indexed requestId, uint8 code, bytes32 sourceHash, bytes data);

    error OnlyGateway(address caller);
    error NotPending(bytes32 requestId);
    error ResultTooLarge(uint256 size);

    constructor(INSLGateway gateway_) {
        gateway = gateway_;
    }

    /// @notice Run function `functionId` (only the source of SHA-256 `sourceHash`, unless zero) on `args`
    ///         (JSON text), paying at least gateway.requestPrice("functions", SignatureOnly, CALLBACK_GAS,
    ///         tx.gasprice).
    function requestFunction(string calldata functionId, bytes32 sourceHash, string calldata args)
        external
        payable
        returns (bytes32)
    {
        return _request(abi.encode(functionId, sourceHash, args));
    }

    /// @notice Send `payload` (the functions service's request payload) as it is.
    function requestData(bytes calldata payload) external payable returns (bytes32) {
        return _request(payload);
    }

    function _request(bytes memory payload) internal returns (bytes32 requestId) {
        requestId = gateway.request{value: msg.value}(
            FUNCTIONS,
            payload,
            address(this),
            this.onFunctionResult.selector,
            CALLBACK_GAS,
            INSLGateway.Mode.SignatureOnly
        );
        pending[requestId] = true;
        lastRequestId = requestId;
    }

    /// @notice The gateway's callback: keeps the code, the hash of the code that ran and the data.
    function onFunctionResult(bytes32 requestId, bytes calldata result) external {
        if (msg.sender != address(gateway)) revert OnlyGateway(msg.sender);
        if (!pending[requestId]) revert NotPending(requestId);
        (uint8 code, bytes32 sourceHash, bytes memory data) = abi.decode(result, (uint8, bytes32, bytes));
        if (data.length > MAX_DATA_SIZE) revert ResultTooLarge(data.length);
        pending[requestId] = false;
        codes[requestId] = code;
        sourceHashes[requestId] = sourceHash;
        results[requestId] = data;
        emit FunctionResult(requestId, code, sourceHash, data);
    }
}
