// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {INSLGateway} from "./INSLGateway.sol";

/// @title RandomnessConsumer: an example contract that asks the NSL gateway for verifiable randomness.
/// @notice With verifyOnChain the gateway checks the Dodis-Yampolskiy proof before calling back, so the value
///         stored here is one the chain itself verified; otherwise the enclave's signature vouches for it and
///         the proof is in the gateway's Fulfilled event for anyone to audit offline.
contract RandomnessConsumer {
    bytes32 internal constant RANDOMNESS = "randomness";
    /// Enough for the callback's two storage writes.
    uint32 public constant CALLBACK_GAS = 100_000;

    struct Draw {
        bool requested;
        bool fulfilled;
        bool verifiedOnChain;
        bytes32 value;
    }

    INSLGateway public immutable gateway;
    mapping(bytes32 => Draw) public draws;
    bytes32 public lastRequestId;

    event RandomnessRequested(bytes32 indexed requestId, bool verifyOnChain);
    event RandomnessReceived(bytes32 indexed requestId, bytes32 value);

    error OnlyGateway(address caller);
    error NotPending(bytes32 requestId);

    constructor(INSLGateway gateway_) {
        gateway = gateway_;
    }

    /// @notice Request randomness for `seed`; send at least
    ///         gateway.requestPrice("randomness", mode, CALLBACK_GAS, tx.gasprice) as value.
    function requestRandomness(bytes calldata seed, bool verifyOnChain) external payable returns (bytes32 requestId) {
        INSLGateway.Mode mode = verifyOnChain ? INSLGateway.Mode.OnchainVerify : INSLGateway.Mode.SignatureOnly;
        requestId = gateway.request{value: msg.value}(
            RANDOMNESS, seed, address(this), this.onRandomness.selector, CALLBACK_GAS, mode
        );
        draws[requestId] = Draw({requested: true, fulfilled: false, verifiedOnChain: verifyOnChain, value: 0});
        lastRequestId = requestId;
        emit RandomnessRequested(requestId, verifyOnChain);
    }

    /// @notice The gateway's callback: result = beta (32 bytes) || pi (EIP-2537 G2, 256 bytes).
    function onRandomness(bytes32 requestId, bytes calldata result) external {
        if (msg.sender != address(gateway)) revert OnlyGateway(msg.sender);
        Draw storage d = draws[requestId];
        if (!d.requested || d.fulfilled) revert NotPending(requestId);
        d.fulfilled = true;
        d.value = bytes32(result[0:32]);
        emit RandomnessReceived(requestId, d.value);
    }
}
